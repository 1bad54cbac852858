package pricing

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Price is one model's price: the base variant, the dated / time-of-day entries that
// replace it while they hold, and the service tiers that replace whatever holds.
type Price struct {
	// Provider is the data provider id (override entries: the provider as written).
	Provider string
	// Model is the price row's id (override entries: the model as written).
	Model string
	// ID names the row on spans (tollgate.cost.price_id): provider/id, override:provider/model, fallback/provider.
	ID            string
	Base          Variant
	BatchDiscount float64 // NaN when the price has none
	When          []Dated
	ServiceTiers  map[string]*Variant
}

// Dated is a price entry constrained to a start date OR a UTC time-of-day window (as
// src/pricing/when.ts compiles it: a startDate makes it a dated price and its times are not read).
type Dated struct {
	Variant
	// Window false: the entry holds from FromUnix on (UTC midnight of its startDate).
	Window   bool
	FromUnix int64
	// Window true: [StartSec, EndSec) seconds of the UTC day, missing times being 00:00:00;
	// EndSec < StartSec wraps midnight; StartSec == EndSec never holds.
	StartSec, EndSec int64
}

func (d *Dated) holds(unix int64) bool {
	if !d.Window {
		return unix >= d.FromUnix
	}
	sod := unix % 86400
	if sod < 0 {
		sod += 86400
	}
	if d.EndSec < d.StartSec {
		return sod >= d.StartSec || sod < d.EndSec
	}
	return sod >= d.StartSec && sod < d.EndSec
}

// At returns the variant in force for a call started at unixNanos under a service tier
// ("" for none): the service tier when the model has it; else the LAST `when` entry
// whose constraint holds (genai-prices' rule: later constrained entries win); else the base.
func (p *Price) At(unixNanos int64, serviceTier string) *Variant {
	if serviceTier != "" && p.ServiceTiers != nil {
		if v := p.ServiceTiers[serviceTier]; v != nil {
			return v
		}
	}
	if len(p.When) > 0 {
		unix := unixNanos / int64(time.Second)
		if unixNanos < 0 && unixNanos%int64(time.Second) != 0 {
			unix-- // floor, not truncation
		}
		for i := len(p.When) - 1; i >= 0; i-- {
			if p.When[i].holds(unix) {
				return &p.When[i].Variant
			}
		}
	}
	return &p.Base
}

// ---- reading JSON documents with errors that name the file, the JSON path and what was expected

// ConfigError is a bad price file: where (file and JSON path), what was found, what was expected.
type ConfigError struct {
	Source   string
	Value    any
	Expected string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("tollgate: invalid configuration at %s: got %s, expected %s", e.Source, describe(e.Value), e.Expected)
}

// describe renders a found value for an error message, shortened.
func describe(v any) string {
	if v == nil {
		return "nothing"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

type reader struct{ file string }

func (r reader) fail(path string, v any, expected string) error {
	return &ConfigError{Source: r.file + " " + path, Value: v, Expected: expected}
}

func (r reader) object(v any, path, expected string) (map[string]any, error) {
	o, ok := v.(map[string]any)
	if !ok {
		return nil, r.fail(path, v, expected)
	}
	return o, nil
}

func (r reader) array(v any, path, expected string) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, r.fail(path, v, expected)
	}
	return a, nil
}

const rateExpected = "a finite number >= 0 (USD per million tokens)"

// rateField reads an optional (NaN when absent) or required rate.
func (r reader) rateField(o map[string]any, key, path string, required bool) (float64, error) {
	v, ok := o[key]
	if !ok {
		if required {
			return 0, r.fail(path+"."+key, nil, rateExpected)
		}
		return math.NaN(), nil
	}
	f, ok := v.(float64)
	if !ok || f < 0 || math.IsInf(f, 0) {
		return 0, r.fail(path+"."+key, v, rateExpected)
	}
	return f, nil
}

func (r reader) rates(o map[string]any, path string) (Rates, error) {
	var out Rates
	var err error
	fields := []struct {
		key      string
		dst      *float64
		required bool
	}{
		{"input", &out.Input, true}, {"output", &out.Output, true},
		{"cacheRead", &out.CacheRead, false}, {"cacheWrite", &out.CacheWrite, false},
		{"cacheWrite1h", &out.CacheWrite1h, false}, {"reasoning", &out.Reasoning, false},
	}
	for _, f := range fields {
		if *f.dst, err = r.rateField(o, f.key, path, f.required); err != nil {
			return out, err
		}
	}
	return out, nil
}

// tiers reads a long-context tier list, sorted by threshold; equal thresholds are an error.
func (r reader) tiers(o map[string]any, path string, strict bool) ([]Tier, error) {
	v, ok := o["tiers"]
	if !ok {
		return nil, nil
	}
	list, err := r.array(v, path+".tiers", "an array of tiers { aboveInputTokens, input, output, ... }")
	if err != nil {
		return nil, err
	}
	out := make([]Tier, 0, len(list))
	for i, t := range list {
		tp := fmt.Sprintf("%s.tiers[%d]", path, i)
		to, err := r.object(t, tp, "an object { aboveInputTokens, input, output, ... }")
		if err != nil {
			return nil, err
		}
		if strict {
			if err := r.onlyKeys(to, tp, tierKeys); err != nil {
				return nil, err
			}
		}
		above, ok := to["aboveInputTokens"].(float64)
		if !ok || above < 0 || above != math.Trunc(above) || math.IsInf(above, 0) {
			return nil, r.fail(tp+".aboveInputTokens", to["aboveInputTokens"], "an integer >= 0 (input tokens above which the tier applies)")
		}
		rates, err := r.rates(to, tp)
		if err != nil {
			return nil, err
		}
		out = append(out, Tier{Rates: rates, AboveInputTokens: above})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].AboveInputTokens < out[b].AboveInputTokens })
	for i := 1; i < len(out); i++ {
		if out[i].AboveInputTokens == out[i-1].AboveInputTokens {
			return nil, r.fail(path+".tiers", v, "tiers with distinct aboveInputTokens thresholds")
		}
	}
	return out, nil
}

func (r reader) variant(o map[string]any, path string, strict bool) (Variant, error) {
	rates, err := r.rates(o, path)
	if err != nil {
		return Variant{}, err
	}
	tiers, err := r.tiers(o, path, strict)
	return Variant{Rates: rates, Tiers: tiers}, err
}

var tierKeys = []string{"aboveInputTokens", "input", "output", "cacheRead", "cacheWrite", "cacheWrite1h", "reasoning"}

// onlyKeys rejects a key outside allowed (the override file is strict, like its zod schema).
func (r reader) onlyKeys(o map[string]any, path string, allowed []string) error {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		found := false
		for _, a := range allowed {
			if a == k {
				found = true
				break
			}
		}
		if !found {
			return r.fail(path+"."+k, o[k], fmt.Sprintf("no key %q here; allowed keys: %s", k, strings.Join(allowed, ", ")))
		}
	}
	return nil
}

func (r reader) parse(text []byte) (any, error) {
	var doc any
	if err := json.Unmarshal(text, &doc); err != nil {
		s := string(text)
		if len(s) > 80 {
			s = s[:80] + "…"
		}
		return nil, r.fail("$", s, fmt.Sprintf("a JSON document (%v)", err))
	}
	return doc, nil
}

// parseDate reads "YYYY-MM-DD" as that day's UTC midnight.
func parseDate(s string) (int64, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// parseTimeOfDay reads "HH:MM:SS" (a trailing Z, as genai-prices writes it, is accepted) as seconds of the day.
func parseTimeOfDay(s string) (int64, bool) {
	t, err := time.Parse(time.TimeOnly, strings.TrimSuffix(s, "Z"))
	if err != nil {
		return 0, false
	}
	return int64(t.Hour()*3600 + t.Minute()*60 + t.Second()), true
}

// dated reads a model's `when` list (PRICE-FORMAT: startDate, startTime / endTime, rates, tiers).
func (r reader) dated(o map[string]any, path string) ([]Dated, error) {
	v, ok := o["when"]
	if !ok {
		return nil, nil
	}
	list, err := r.array(v, path+".when", "an array of dated prices { startDate?, startTime?, endTime?, input, output, ... }")
	if err != nil {
		return nil, err
	}
	out := make([]Dated, 0, len(list))
	for i, e := range list {
		ep := fmt.Sprintf("%s.when[%d]", path, i)
		eo, err := r.object(e, ep, "an object { startDate?, startTime?, endTime?, input, output, ... }")
		if err != nil {
			return nil, err
		}
		d := Dated{Window: true}
		if sd, ok := eo["startDate"]; ok {
			s, _ := sd.(string)
			if d.FromUnix, ok = parseDate(s); !ok {
				return nil, r.fail(ep+".startDate", sd, "a date YYYY-MM-DD (UTC)")
			}
			d.Window = false
		}
		for _, k := range []string{"startTime", "endTime"} {
			if !d.Window {
				break
			}
			tv, ok := eo[k]
			if !ok {
				continue
			}
			s, _ := tv.(string)
			sec, ok := parseTimeOfDay(s)
			if !ok {
				return nil, r.fail(ep+"."+k, tv, "a UTC time of day HH:MM:SS")
			}
			if k == "startTime" {
				d.StartSec = sec
			} else {
				d.EndSec = sec
			}
		}
		if d.Variant, err = r.variant(eo, ep, false); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (r reader) serviceTiers(o map[string]any, path string) (map[string]*Variant, error) {
	v, ok := o["serviceTiers"]
	if !ok {
		return nil, nil
	}
	so, err := r.object(v, path+".serviceTiers", "an object { flex?, priority? } of prices")
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Variant, len(so))
	for name, tv := range so {
		tp := path + ".serviceTiers." + name
		to, err := r.object(tv, tp, "a price { input, output, ... }")
		if err != nil {
			return nil, err
		}
		variant, err := r.variant(to, tp, false)
		if err != nil {
			return nil, err
		}
		out[name] = &variant // names compare exactly, as the TypeScript table's Map does
	}
	return out, nil
}

func (r reader) batchDiscount(o map[string]any, path string) (float64, error) {
	v, ok := o["batchDiscount"]
	if !ok {
		return math.NaN(), nil
	}
	f, ok := v.(float64)
	if !ok || f <= 0 || f > 1 {
		return 0, r.fail(path+".batchDiscount", v, "a number > 0 and <= 1 (multiplier for batch calls, e.g. 0.5)")
	}
	return f, nil
}
