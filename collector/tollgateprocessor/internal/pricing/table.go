package pricing

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
)

// builtinTable is a byte-identical copy of src/pricing/data/prices.json, written by
// `node scripts/build-golden.ts` and checked by its --check mode (npm test) and by the Go tests.
//
//go:embed prices.json
var builtinTable []byte

// BuiltinTable returns the embedded compiled table's bytes.
func BuiltinTable() []byte { return builtinTable }

// Source of a resolved price, as written to tollgate.cost.source.
const (
	SourceTable    = "table"
	SourceOverride = "override"
	SourceFallback = "fallback"
)

// Lookup is a resolved price for a model name as seen on a span.
type Lookup struct {
	Price  *Price
	Source string
}

type model struct {
	lookup *Lookup
	test   matcher
}

type provider struct {
	id         string
	models     []model
	modelMatch matcher
}

type override struct {
	lookup   *Lookup
	provider string // lowercased
	name     string // lowercased
	globs    []matcher
}

type memoKey struct{ provider, model string }

// Table is the effective price table: compiled data plus overrides, compiled once.
// Lookups of a name seen before are one read-locked map hit; Table is safe for
// concurrent use.
type Table struct {
	// Source and AsOf describe the compiled data (its `source` and `asOf` fields).
	Source, AsOf string

	providers []*provider
	byID      map[string]*provider
	overrides []override
	all       []*Price

	mu       sync.RWMutex
	memo     map[memoKey]*Lookup
	memoCap  int
	fallback map[string]Rates
}

// Options of NewTable.
type Options struct {
	// TableFile replaces the embedded compiled table (same format as src/pricing/data/prices.json).
	TableFile string
	// OverridesFile is a price override file (TOLLGATE_PRICES format); its prices win.
	OverridesFile string
	// MemoEntries caps the distinct (provider, model) names remembered before starting afresh (default 4096).
	MemoEntries int
}

// NewTable reads and validates the price data. Every fault is a *ConfigError naming the
// file, the JSON path and what was expected.
func NewTable(opts Options) (*Table, error) {
	text, name := builtinTable, "embedded prices.json"
	if opts.TableFile != "" {
		b, err := os.ReadFile(opts.TableFile)
		if err != nil {
			return nil, &ConfigError{Source: opts.TableFile, Value: opts.TableFile, Expected: fmt.Sprintf("a readable compiled price table (%v)", err)}
		}
		text, name = b, opts.TableFile
	}
	t := &Table{byID: map[string]*provider{}, memo: map[memoKey]*Lookup{}, fallback: map[string]Rates{}, memoCap: max(16, opts.MemoEntries)}
	if opts.MemoEntries == 0 {
		t.memoCap = 4096
	}
	if opts.OverridesFile != "" {
		if err := t.loadOverrides(opts.OverridesFile); err != nil {
			return nil, err
		}
	}
	if err := t.loadCompiled(name, text); err != nil {
		return nil, err
	}
	for _, o := range t.overrides {
		t.all = append(t.all, o.lookup.Price)
	}
	for _, p := range t.providers {
		for _, m := range p.models {
			t.all = append(t.all, m.lookup.Price)
		}
	}
	return t, nil
}

func (t *Table) loadCompiled(file string, text []byte) error {
	r := reader{file: file}
	doc, err := r.parse(text)
	if err != nil {
		return err
	}
	root, err := r.object(doc, "$", "a compiled price table { version, source, asOf, providers }")
	if err != nil {
		return err
	}
	t.Source, _ = root["source"].(string)
	t.AsOf, _ = root["asOf"].(string)
	list, err := r.array(root["providers"], "$.providers", "an array of providers { id, models }")
	if err != nil {
		return err
	}
	for i, pv := range list {
		pp := fmt.Sprintf("$.providers[%d]", i)
		po, err := r.object(pv, pp, "a provider { id, modelMatch?, models }")
		if err != nil {
			return err
		}
		id, ok := po["id"].(string)
		if !ok || id == "" {
			return r.fail(pp+".id", po["id"], "a non-empty provider id")
		}
		p := &provider{id: id}
		if mm, ok := po["modelMatch"]; ok {
			if p.modelMatch, err = compileMatch(mm, file+" "+pp+".modelMatch"); err != nil {
				return err
			}
		}
		models, err := r.array(po["models"], pp+".models", "an array of model prices")
		if err != nil {
			return err
		}
		for j, mv := range models {
			mp := fmt.Sprintf("%s.models[%d]", pp, j)
			mo, err := r.object(mv, mp, "a model price { id, match, input, output, ... }")
			if err != nil {
				return err
			}
			mid, ok := mo["id"].(string)
			if !ok || mid == "" {
				return r.fail(mp+".id", mo["id"], "a non-empty model id")
			}
			test, err := compileMatch(mo["match"], file+" "+mp+".match")
			if err != nil {
				return err
			}
			price := &Price{Provider: id, Model: mid, ID: id + "/" + mid}
			if price.Base, err = r.variant(mo, mp, false); err != nil {
				return err
			}
			if price.BatchDiscount, err = r.batchDiscount(mo, mp); err != nil {
				return err
			}
			if price.When, err = r.dated(mo, mp); err != nil {
				return err
			}
			if price.ServiceTiers, err = r.serviceTiers(mo, mp); err != nil {
				return err
			}
			p.models = append(p.models, model{lookup: &Lookup{Price: price, Source: SourceTable}, test: test})
		}
		t.providers = append(t.providers, p)
		t.byID[id] = p
	}
	return nil
}

var (
	fileKeys  = []string{"version", "models"}
	modelKeys = []string{"provider", "model", "match", "input", "output", "cacheRead", "cacheWrite", "cacheWrite1h", "reasoning", "batchDiscount", "maxOutputTokens", "tiers"}
)

// loadOverrides reads a price override file (docs/pricing.md, "Price override file (`TOLLGATE_PRICES`)"), as strictly
// as src/pricing/overrides.ts does.
func (t *Table) loadOverrides(file string) error {
	text, err := os.ReadFile(file)
	if err != nil {
		return &ConfigError{Source: file, Value: file, Expected: fmt.Sprintf("a readable price override file (TOLLGATE_PRICES): %v", err)}
	}
	r := reader{file: file}
	doc, err := r.parse(text)
	if err != nil {
		return err
	}
	if _, isList := doc.([]any); isList {
		return r.fail("$", "a JSON array", "a price override file { version: 1, models: [...] } (a genai-prices data file, which the SDK also accepts, is not read by the collector: give it a compiled table instead, as table_file: the prices.json node scripts/build-prices.ts writes from the installed @pydantic/genai-prices)")
	}
	root, err := r.object(doc, "$", "a price override file { version: 1, models: [...] }")
	if err != nil {
		return err
	}
	if err := r.onlyKeys(root, "$", fileKeys); err != nil {
		return err
	}
	if v, ok := root["version"].(float64); !ok || v != 1 {
		return r.fail("$.version", root["version"], "the number 1 (the only file format version)")
	}
	list, err := r.array(root["models"], "$.models", "an array of model prices")
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for i, mv := range list {
		mp := fmt.Sprintf("$.models[%d]", i)
		mo, err := r.object(mv, mp, "an object { provider, model, input, output, ... }")
		if err != nil {
			return err
		}
		if err := r.onlyKeys(mo, mp, modelKeys); err != nil {
			return err
		}
		prov, ok := mo["provider"].(string)
		if prov = strings.TrimSpace(prov); !ok || prov == "" {
			return r.fail(mp+".provider", mo["provider"], `a non-empty string such as "openai"`)
		}
		name, ok := mo["model"].(string)
		if name = strings.TrimSpace(name); !ok || name == "" {
			return r.fail(mp+".model", mo["model"], "a non-empty model name")
		}
		key := strings.ToLower(prov) + "\x00" + strings.ToLower(name)
		if prev, dup := seen[key]; dup {
			return r.fail(mp+".model", name, fmt.Sprintf("a model not already priced for provider %q (see $.models[%d])", prov, prev))
		}
		seen[key] = i
		o := override{provider: strings.ToLower(prov), name: strings.ToLower(name)}
		if mv, ok := mo["match"]; ok {
			globs, err := r.array(mv, mp+".match", `an array of non-empty model-name globs ("*" matches any run of characters)`)
			if err != nil {
				return err
			}
			for g, gv := range globs {
				s, ok := gv.(string)
				if s = strings.TrimSpace(s); !ok || s == "" {
					return r.fail(fmt.Sprintf("%s.match[%d]", mp, g), gv, "a non-empty model-name glob")
				}
				o.globs = append(o.globs, compileGlob(s))
			}
		}
		if v, ok := mo["maxOutputTokens"]; ok {
			if f, isNum := v.(float64); !isNum || f <= 0 || f != math.Trunc(f) {
				return r.fail(mp+".maxOutputTokens", v, "a positive integer")
			}
		}
		price := &Price{Provider: prov, Model: name, ID: "override:" + prov + "/" + name}
		if price.Base.Rates, err = r.rates(mo, mp); err != nil {
			return err
		}
		if price.Base.Tiers, err = r.tiers(mo, mp, true); err != nil {
			return err
		}
		if price.BatchDiscount, err = r.batchDiscount(mo, mp); err != nil {
			return err
		}
		o.lookup = &Lookup{Price: price, Source: SourceOverride}
		t.overrides = append(t.overrides, o)
	}
	return nil
}

// Lookup resolves a model name as seen on a span (and the span's provider, "" when
// none). It never fails: a name no table knows gets the provider's most expensive
// known rates, Source "fallback". fresh reports a name resolved for the first time.
func (t *Table) Lookup(modelName, providerName string) (l *Lookup, fresh bool) {
	key := memoKey{providerName, modelName}
	t.mu.RLock()
	l = t.memo[key]
	t.mu.RUnlock()
	if l != nil {
		return l, false
	}
	l = t.resolve(modelName, providerName)
	t.mu.Lock()
	if len(t.memo) >= t.memoCap {
		clear(t.memo)
	}
	t.memo[key] = l
	t.mu.Unlock()
	return l, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (t *Table) matchOverride(candidates, preferred []string) *Lookup {
	var anyMatch *Lookup
	for _, name := range candidates {
		for i := range t.overrides {
			o := &t.overrides[i]
			if o.name != name {
				globbed := false
				for _, g := range o.globs {
					if g(name) {
						globbed = true
						break
					}
				}
				if !globbed {
					continue
				}
			}
			if len(preferred) == 0 || contains(preferred, o.provider) {
				return o.lookup
			}
			for _, id := range ProviderIDs(o.provider) {
				if contains(preferred, id) {
					return o.lookup
				}
			}
			if anyMatch == nil {
				anyMatch = o.lookup
			}
		}
	}
	return anyMatch
}

func (t *Table) matchIn(ids, candidates []string) *Lookup {
	for _, name := range candidates {
		for _, id := range ids {
			p := t.byID[id]
			if p == nil {
				continue
			}
			for _, m := range p.models {
				if m.test(name) {
					return m.lookup
				}
			}
		}
	}
	return nil
}

// resolve is src/pricing/table.ts resolve + the fallback of its get().
func (t *Table) resolve(modelName, providerName string) *Lookup {
	lower := strings.ToLower(strings.TrimSpace(modelName))
	candidates := NameCandidates(lower)
	var preferred []string
	for _, id := range append(ProviderFromName(lower), ProviderIDs(providerName)...) {
		if !contains(preferred, id) {
			preferred = append(preferred, id)
		}
	}
	found := t.matchOverride(candidates, preferred)
	if found == nil {
		found = t.matchIn(preferred, candidates)
	}
	if found == nil {
		rest := make([]string, 0, len(t.providers))
		for _, p := range t.providers {
			if !contains(preferred, p.id) {
				rest = append(rest, p.id)
			}
		}
		found = t.matchIn(rest, candidates)
	}
	if found != nil {
		return found
	}
	fallbackProvider := ""
	if len(preferred) > 0 {
		fallbackProvider = preferred[0]
	} else {
	search:
		for _, p := range t.providers {
			if p.modelMatch == nil {
				continue
			}
			for _, c := range candidates {
				if p.modelMatch(c) {
					fallbackProvider = p.id
					break search
				}
			}
		}
	}
	if fallbackProvider == "" {
		fallbackProvider = "*"
	}
	named := fallbackProvider
	if named == "*" {
		named = providerName
		if named == "" {
			named = "unknown"
		}
	}
	return &Lookup{
		Price:  &Price{Provider: named, Model: modelName, ID: "fallback/" + fallbackProvider, Base: Variant{Rates: t.fallbackFor(fallbackProvider)}, BatchDiscount: math.NaN()},
		Source: SourceFallback,
	}
}

// fallbackFor: the provider's ("*": every provider's) most expensive known rates, each
// taken separately, tiers included; an unknown model's cache reads bill at full input
// and its writes at the worst known surcharge.
func (t *Table) fallbackFor(providerID string) Rates {
	t.mu.RLock()
	r, ok := t.fallback[providerID]
	t.mu.RUnlock()
	if ok {
		return r
	}
	var pool []*Price
	if providerID == "*" {
		pool = t.all
	} else {
		for _, o := range t.overrides {
			if o.provider == providerID || contains(ProviderIDs(o.provider), providerID) {
				pool = append(pool, o.lookup.Price)
			}
		}
		if p := t.byID[providerID]; p != nil {
			for _, m := range p.models {
				pool = append(pool, m.lookup.Price)
			}
		}
	}
	// Every dated price and window counts: an unknown model is priced at the worst of them.
	var all []*Rates
	addVariant := func(v *Variant) {
		all = append(all, &v.Rates)
		for i := range v.Tiers {
			all = append(all, &v.Tiers[i].Rates)
		}
	}
	for _, p := range pool {
		addVariant(&p.Base)
		for i := range p.When {
			addVariant(&p.When[i].Variant)
		}
	}
	maxOf := func(get func(*Rates) float64) float64 {
		m := 0.0
		for _, x := range all {
			if v := get(x); v > m {
				m = v
			}
		}
		return m
	}
	input := maxOf(func(x *Rates) float64 { return x.Input })
	output := maxOf(func(x *Rates) float64 { return x.Output })
	r = Rates{
		Input:        input,
		Output:       output,
		CacheRead:    input,
		CacheWrite:   math.Max(input, maxOf(func(x *Rates) float64 { return x.CacheWrite })),
		CacheWrite1h: math.Max(2*input, maxOf(func(x *Rates) float64 { return x.CacheWrite1h })),
		Reasoning:    math.Max(output, maxOf(func(x *Rates) float64 { return x.Reasoning })),
	}
	t.mu.Lock()
	t.fallback[providerID] = r
	t.mu.Unlock()
	return r
}
