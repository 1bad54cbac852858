/**
 * Keeps a ledger's Redis connection from holding the user's process open.
 *
 * A script that makes one call and returns must exit as it would without tollgate.
 * An idle ioredis client stops that: its socket, and during an outage its reconnect
 * timer, keep Node's event loop alive forever, so `beforeExit` (where
 * `tollgate/register` flushes) never comes. Here the socket of every connection and
 * every reconnect timer are unref'd. Work in flight still holds the loop, so nothing is
 * cut short: each command carries ioredis's `commandTimeout` timer (ref'd) until its
 * reply, and a caller waiting for a connection holds a ref'd deadline timer.
 *
 * ioredis has no option for this, so two of its internals are used, both present in
 * the pinned ioredis 6: a client's `connector` (whose `connect()` resolves the new
 * socket, for plain, TLS and Sentinel connections alike) and `reconnectTimeout`, set
 * just before the `reconnecting` event is emitted (on the next tick), on a Redis client
 * and on a Cluster alike. A Cluster's node connections are reached through its public
 * `+node` event, emitted before each node connects. Should an internal be missing after
 * an upgrade, diag says so and the process may be kept open as before;
 * test/blackbox/lifecycle.test.ts fails in that case.
 */
import { diag } from '@opentelemetry/api';
import { Cluster, type Redis } from 'ioredis';

interface ClientInternals {
  connector?: { connect?: (...args: unknown[]) => Promise<{ unref?: () => unknown }> };
  reconnectTimeout?: { unref?: () => unknown } | null;
}

/** Unrefs `client`'s sockets and reconnect timers from now on. Call before it connects (`lazyConnect`). */
export function detachFromEventLoop(client: Redis | Cluster): void {
  const internals = client as unknown as ClientInternals;
  client.on('reconnecting', () => {
    internals.reconnectTimeout?.unref?.();
  });
  if (client instanceof Cluster) {
    client.on('+node', (node: Redis) => detachFromEventLoop(node));
    return;
  }
  const connector = internals.connector;
  const connect = connector?.connect;
  if (connector === undefined || typeof connect !== 'function') {
    diag.warn('tollgate: this ioredis has no connector.connect; the Redis ledger connection may keep the process alive after its work is done');
    return;
  }
  connector.connect = async (...args: unknown[]) => {
    const stream = await connect.apply(connector, args);
    stream.unref?.();
    return stream;
  };
}
