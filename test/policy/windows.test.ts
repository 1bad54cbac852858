import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { windowsAt, WindowClock } from '../../src/policy/windows.ts';
import { SpendRate } from '../../src/policy/rate.ts';

void describe('UTC windows', () => {
  void it('names the day and month and their resets, across a year end and a leap day', () => {
    assert.deepEqual(windowsAt(Date.UTC(2026, 11, 31, 23, 59, 59, 999)), {
      dayKey: 'day:2026-12-31',
      dayStart: Date.UTC(2026, 11, 31),
      dayReset: Date.UTC(2027, 0, 1),
      monthKey: 'month:2026-12',
      monthReset: Date.UTC(2027, 0, 1),
    });
    const leap = windowsAt(Date.UTC(2028, 1, 29, 5));
    assert.equal(leap.dayKey, 'day:2028-02-29');
    assert.equal(leap.dayReset, Date.UTC(2028, 2, 1));
    assert.equal(leap.monthReset, Date.UTC(2028, 2, 1));
  });

  void it('recomputes only when the day changes, also when a clock goes back', () => {
    const c = new WindowClock(Date.UTC(2026, 10, 25, 1));
    const g = c.generation;
    assert.equal(c.at(Date.UTC(2026, 10, 25, 23)).dayKey, 'day:2026-11-25');
    assert.equal(c.generation, g);
    assert.equal(c.at(Date.UTC(2026, 10, 26)).dayKey, 'day:2026-11-26');
    assert.equal(c.generation, g + 1);
    assert.equal(c.at(Date.UTC(2026, 10, 24, 12)).dayKey, 'day:2026-11-24');
    assert.equal(c.generation, g + 2);
  });
});

void describe('SpendRate', () => {
  void it('sums the last 60 s and says when the sum falls below a limit', () => {
    const r = new SpendRate();
    const t = 1_000_000_000;
    r.add(t, 0.5);
    r.add(t + 10_000, 0.25);
    r.add(t + 59_999, 0.25);
    assert.equal(r.lastMinuteUsd(t + 59_999), 1);
    assert.equal(r.lastMinuteUsd(t + 60_000), 0.5);
    assert.equal(r.belowAt(t + 59_999, 1), t + 60_000);
    assert.equal(r.belowAt(t + 59_999, 0.5), t + 70_000);
    assert.equal(r.belowAt(t + 59_999, 2), t + 59_999);
  });
});
