package tollgateprocessor

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// harness: the processor built by its factory, as the collector builds it, in front of a sink.
type harness struct {
	proc processor.Traces
	sink *consumertest.TracesSink
	tel  *componenttest.Telemetry
}

func newHarness(t testing.TB, cfg *Config) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	tel := componenttest.NewTelemetry()
	set := processortest.NewNopSettings(component.MustNewType(typeStr))
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.TracesSink)
	proc, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatalf("CreateTraces: %v", err)
	}
	if err := proc.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		_ = proc.Shutdown(context.Background())
		_ = tel.Shutdown(context.Background())
	})
	return &harness{proc: proc, sink: sink, tel: tel}
}

// typed is an attribute as the golden corpus writes it: {"int": n} | {"double": n} | {"string": s} | {"bool": b}.
type typed map[string]any

func putTyped(t testing.TB, m pcommon.Map, key string, v typed) {
	t.Helper()
	switch {
	case v["int"] != nil:
		switch n := v["int"].(type) {
		case int:
			m.PutInt(key, int64(n))
		default:
			m.PutInt(key, int64(n.(float64)))
		}
	case v["double"] != nil:
		m.PutDouble(key, v["double"].(float64))
	case v["string"] != nil:
		m.PutStr(key, v["string"].(string))
	case v["bool"] != nil:
		m.PutBool(key, v["bool"].(bool))
	default:
		t.Fatalf("attribute %s: unknown typed value %v", key, v)
	}
}

type goldenSpan struct {
	Note       string           `json:"note"`
	Name       string           `json:"name"`
	StartTime  string           `json:"startTime"`
	Resource   map[string]typed `json:"resource"`
	Attributes map[string]typed `json:"attributes"`
	Expected   map[string]any   `json:"expected"`
}

type golden struct {
	CostAttributes []string           `json:"costAttributes"`
	Spans          []goldenSpan       `json:"spans"`
	NamesStartTime string             `json:"namesStartTime"`
	NamesTokens    map[string]float64 `json:"namesTokens"`
	Names          [][]any            `json:"names"`
}

func repoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatalf("reading %s from the repository: %v", rel, err)
	}
	return b
}

func loadGolden(t testing.TB) golden {
	var g golden
	if err := json.Unmarshal(repoFile(t, "test/golden/cost-cases.json"), &g); err != nil {
		t.Fatalf("test/golden/cost-cases.json: %v", err)
	}
	if len(g.Spans) < 40 || len(g.Names) < 900 {
		t.Fatalf("golden corpus too small: %d spans, %d names", len(g.Spans), len(g.Names))
	}
	return g
}

// oneSpan builds a batch of one span under one resource.
func oneSpan(t testing.TB, name, start string, resource, attrs map[string]typed) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	for k, v := range resource {
		putTyped(t, rs.Resource().Attributes(), k, v)
	}
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName(name)
	at, err := time.Parse(time.RFC3339, start)
	if err != nil {
		t.Fatalf("start time %q: %v", start, err)
	}
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Second)))
	for k, v := range attrs {
		putTyped(t, span.Attributes(), k, v)
	}
	return td
}

func (h *harness) run(t testing.TB, td ptrace.Traces) pcommon.Map {
	t.Helper()
	h.sink.Reset()
	if err := h.proc.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatalf("ConsumeTraces: %v", err)
	}
	all := h.sink.AllTraces()
	if len(all) != 1 || all[0].SpanCount() != 1 {
		t.Fatalf("the sink got %d batches", len(all))
	}
	return all[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
}

// TestGoldenSpans replays every span of the shared corpus: the collector writes exactly
// (bit for bit) the cost attributes tollgate's TypeScript processor wrote, prices no span
// the TypeScript processor leaves alone, and marks what it priced.
func TestGoldenSpans(t *testing.T) {
	g := loadGolden(t)
	h := newHarness(t, &Config{})
	for _, c := range g.Spans {
		t.Run(c.Note, func(t *testing.T) {
			attrs := h.run(t, oneSpan(t, c.Name, c.StartTime, c.Resource, c.Attributes))
			pricedBy, _ := attrs.Get(attrCostPricedBy)
			if c.Expected == nil {
				if pricedBy.Str() != "" {
					t.Fatalf("priced a span the TypeScript processor leaves alone: %v", attrs.AsRaw())
				}
				if attrs.Len() != len(c.Attributes) {
					t.Fatalf("changed a span it did not price: %v", attrs.AsRaw())
				}
				return
			}
			for _, key := range g.CostAttributes {
				got, ok := attrs.Get(key)
				if !ok {
					t.Fatalf("%s missing; attributes %v", key, attrs.AsRaw())
				}
				switch want := c.Expected[key].(type) {
				case float64:
					if got.Type() != pcommon.ValueTypeDouble || math.Float64bits(got.Double()) != math.Float64bits(want) {
						t.Errorf("%s = %v (%s), want %v", key, got.AsRaw(), got.Type(), want)
					}
				case string:
					if got.Str() != want {
						t.Errorf("%s = %q, want %q", key, got.Str(), want)
					}
				}
			}
			if pricedBy.Str() != pricedByCollector {
				t.Errorf("tollgate.cost.priced_by = %q", pricedBy.Str())
			}
			agent, _ := attrs.Get(attrAgentName)
			wantAgent := "golden-service"
			if a, ok := c.Resource[attrAgentName]; ok {
				wantAgent = a["string"].(string)
			} else if sn, ok := c.Resource[attrServiceName]; ok {
				wantAgent = sn["string"].(string)
			}
			if agent.Str() != wantAgent {
				t.Errorf("gen_ai.agent.name = %q, want %q", agent.Str(), wantAgent)
			}
		})
	}
}

// TestGoldenNames: every model id of the built-in table, and its dated snapshot, under its
// own provider, resolves to the price the TypeScript table resolves (incl. the Fireworks
// ids whose rules expect accounts/fireworks/models/..., which the OTTL generator priced differently).
func TestGoldenNames(t *testing.T) {
	g := loadGolden(t)
	h := newHarness(t, &Config{})
	tokens := map[string]typed{}
	for k, v := range g.NamesTokens {
		tokens[k] = typed{"int": v}
	}
	mismatches := 0
	fireworks := 0
	for _, row := range g.Names {
		provider, model := row[0].(string), row[1].(string)
		attrs := map[string]typed{"gen_ai.operation.name": {"string": "chat"}, "gen_ai.request.model": {"string": model}, "gen_ai.provider.name": {"string": provider}}
		for k, v := range tokens {
			attrs[k] = v
		}
		got := h.run(t, oneSpan(t, "chat "+model, g.NamesStartTime, map[string]typed{"service.name": {"string": "golden-service"}}, attrs))
		source, _ := got.Get(attrCostSource)
		want := []any{row[2]}
		have := []any{source.Str()}
		for n, key := range []string{attrCostUSD, attrCostInput, attrCostOutput, attrCostCacheRead, attrCostCacheWrite} {
			v, _ := got.Get(key)
			want = append(want, row[3+n])
			have = append(have, v.Double())
		}
		for n := range want {
			if want[n] != have[n] {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("%s/%s: collector %v, TypeScript %v", provider, model, have, want)
				}
				break
			}
		}
		if provider == "fireworks" {
			fireworks++
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d names priced differently", mismatches, len(g.Names))
	}
	if fireworks < 20 {
		t.Fatalf("only %d Fireworks names in the corpus", fireworks)
	}
}

// TestEmbeddedTableIsTheRepositoryTable: the go:embed copy is byte-identical to src/pricing/data/prices.json.
func TestEmbeddedTableIsTheRepositoryTable(t *testing.T) {
	embedded, err := os.ReadFile(filepath.Join("internal", "pricing", "prices.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(embedded) != string(repoFile(t, "src/pricing/data/prices.json")) {
		t.Fatal("internal/pricing/prices.json differs from src/pricing/data/prices.json: run node scripts/build-golden.ts")
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigValidate: a bad price file stops the collector at start with an error naming
// the file, the JSON path and what was expected.
func TestConfigValidate(t *testing.T) {
	good := `{"version":1,"models":[{"provider":"openai","model":"acme-large","input":2.5,"output":10}]}`
	cases := []struct {
		name   string
		prices string // file content; "" = no file at all; "-" = a path that does not exist
		table  string
		want   []string
	}{
		{name: "missing prices file", prices: "-", want: []string{"does-not-exist.json", "a readable price override file"}},
		{name: "not JSON", prices: `{"version":1,`, want: []string{"prices.json $", "a JSON document"}},
		{name: "wrong version", prices: `{"version":2,"models":[]}`, want: []string{"prices.json $.version", "got 2", "the number 1"}},
		{name: "negative rate", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":-1,"output":1}]}`, want: []string{"$.models[0].input", "got -1", ">= 0 (USD per million tokens)"}},
		{name: "rate as a string", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1,"output":"2"}]}`, want: []string{"$.models[0].output", `got "2"`}},
		{name: "missing output", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1}]}`, want: []string{"$.models[0].output", "got nothing"}},
		{name: "unknown key", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1,"output":1,"inputt":1}]}`, want: []string{"$.models[0].inputt", `no key "inputt" here`, "allowed keys: provider, model"}},
		{name: "empty provider", prices: `{"version":1,"models":[{"provider":" ","model":"m","input":1,"output":1}]}`, want: []string{"$.models[0].provider", "non-empty"}},
		{name: "duplicate model", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1,"output":1},{"provider":"OpenAI","model":"M","input":1,"output":1}]}`, want: []string{"$.models[1].model", "see $.models[0]"}},
		{name: "tier without threshold", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1,"output":1,"tiers":[{"input":2,"output":2}]}]}`, want: []string{"$.models[0].tiers[0].aboveInputTokens", "an integer >= 0"}},
		{name: "equal tier thresholds", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1,"output":1,"tiers":[{"aboveInputTokens":5,"input":2,"output":2},{"aboveInputTokens":5,"input":3,"output":3}]}]}`, want: []string{"$.models[0].tiers", "distinct aboveInputTokens"}},
		{name: "batch discount above 1", prices: `{"version":1,"models":[{"provider":"openai","model":"m","input":1,"output":1,"batchDiscount":2}]}`, want: []string{"$.models[0].batchDiscount", "> 0 and <= 1"}},
		{name: "empty glob", prices: `{"version":1,"models":[{"provider":"openai","model":"m","match":[""],"input":1,"output":1}]}`, want: []string{"$.models[0].match[0]", "glob"}},
		{name: "table: bad date", table: `{"providers":[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"input":1,"output":1,"when":[{"startDate":"2026-13-01","input":1,"output":1}]}]}]}`, want: []string{"table.json $.providers[0].models[0].when[0].startDate", "YYYY-MM-DD"}},
		{name: "table: bad time of day", table: `{"providers":[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"input":1,"output":1,"when":[{"startTime":"25:00:00","endTime":"01:00:00","input":1,"output":1}]}]}]}`, want: []string{"$.providers[0].models[0].when[0].startTime", "HH:MM:SS"}},
		{name: "table: unknown match rule", table: `{"providers":[{"id":"p","models":[{"id":"m","match":{"glob":"m*"},"input":1,"output":1}]}]}`, want: []string{"$.providers[0].models[0].match", `"glob"`}},
		{name: "table: regex the collector cannot run", table: `{"providers":[{"id":"p","models":[{"id":"m","match":{"regex":"a(?=b)"},"input":1,"output":1}]}]}`, want: []string{"$.providers[0].models[0].match.regex", "a regex the collector can run"}},
		{name: "table: service tier without rates", table: `{"providers":[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"input":1,"output":1,"serviceTiers":{"flex":{"input":1}}}]}]}`, want: []string{"$.providers[0].models[0].serviceTiers.flex.output"}},
		{name: "a genai-prices data file (the SDK reads it, the collector does not)", prices: `[{"id":"openai","models":[]}]`, want: []string{"prices.json $", "table_file"}},
		{name: "good file", prices: good},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{}
			switch c.prices {
			case "":
			case "-":
				cfg.PricesFile = filepath.Join(t.TempDir(), "does-not-exist.json")
			default:
				cfg.PricesFile = writeFile(t, "prices.json", c.prices)
			}
			if c.table != "" {
				cfg.TableFile = writeFile(t, "table.json", c.table)
			}
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted a bad file")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func chat(model string, input, output int64, extra map[string]typed) map[string]typed {
	a := map[string]typed{
		"gen_ai.operation.name": {"string": "chat"}, "gen_ai.request.model": {"string": model},
		"gen_ai.usage.input_tokens": {"int": float64(input)}, "gen_ai.usage.output_tokens": {"int": float64(output)},
	}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

func costOf(t *testing.T, attrs pcommon.Map) (float64, string, string) {
	t.Helper()
	usd, ok := attrs.Get(attrCostUSD)
	if !ok {
		t.Fatalf("not priced: %v", attrs.AsRaw())
	}
	src, _ := attrs.Get(attrCostSource)
	id, _ := attrs.Get(attrCostPriceID)
	return usd.Double(), src.Str(), id.Str()
}

// TestPriceInForce: the compiled format's dated entries, time-of-day windows (wrapping
// midnight) and service tiers, on a hand-written table. PRICE-FORMAT rule: the last
// `when` entry that holds at the span's start wins, else the base price; a service tier
// the model has replaces whatever holds.
func TestPriceInForce(t *testing.T) {
	h := newHarness(t, &Config{TableFile: filepath.Join("testdata", "dated-table.json")})
	flex := map[string]typed{"openai.response.service_tier": {"string": "flex"}}
	priority := map[string]typed{"openai.request.service_tier": {"string": "priority"}}
	wrongCase := map[string]typed{"openai.request.service_tier": {"string": "Priority"}}
	unknownTier := map[string]typed{"openai.response.service_tier": {"string": "scale"}}
	cases := []struct {
		name, model, start string
		input, output      int64
		extra              map[string]typed
		wantUSD            float64
	}{
		{"before every dated entry: base", "acme-dated", "2026-02-28T23:59:59Z", 1_000_000, 1_000_000, nil, 3},
		{"first dated entry from its UTC midnight", "acme-dated", "2026-03-01T00:00:00Z", 1_000_000, 1_000_000, nil, 7},
		{"both hold: the later entry wins", "acme-dated", "2026-07-01T00:00:00Z", 1_000_000, 1_000_000, nil, 11},
		{"later entry's cache rate", "acme-dated", "2026-07-01T00:00:00Z", 1_000_000, 0, map[string]typed{"gen_ai.usage.cache_read.input_tokens": {"int": 1_000_000}}, 0.5},
		{"outside both windows", "acme-peak", "2026-05-05T12:00:00Z", 1_000_000, 0, nil, 1},
		{"inside 01:00-04:00", "acme-peak", "2026-05-05T03:59:59Z", 1_000_000, 0, nil, 10},
		{"window end is exclusive", "acme-peak", "2026-05-05T04:00:00Z", 1_000_000, 0, nil, 1},
		{"wrapping window 22:00-02:00, before midnight", "acme-peak-x", "2026-05-05T23:00:00Z", 1_000_000, 0, nil, 20},
		{"both windows hold at 01:30: the later (wrapping) one wins", "acme-peak", "2026-05-05T01:30:00Z", 1_000_000, 0, nil, 20},
		{"wrapping window after midnight ends at 02:00", "acme-peak", "2026-05-05T02:00:00Z", 1_000_000, 0, nil, 10},
		{"base with its tier", "acme-tiered", "2026-01-01T00:00:00Z", 2000, 0, nil, 2000 * 2 / 1e6},
		{"dated entry brings its own tiers", "acme-tiered", "2026-07-01T00:00:00Z", 2000, 0, nil, 2000 * 4 / 1e6},
		{"dated entry below its tier", "acme-tiered", "2026-07-01T00:00:00Z", 1000, 0, nil, 1000 * 3 / 1e6},
		{"flex replaces the dated price", "acme-tiered", "2026-07-01T00:00:00Z", 2000, 0, flex, 2000 * 0.5 / 1e6},
		{"priority (request attribute) with its tier", "acme-tiered", "2026-01-01T00:00:00Z", 2000, 0, priority, 2000 * 9 / 1e6},
		{"tier names compare exactly, as in TypeScript", "acme-tiered", "2026-01-01T00:00:00Z", 2000, 0, wrongCase, 2000 * 2 / 1e6},
		{"a tier the model lacks: the price in force", "acme-tiered", "2026-01-01T00:00:00Z", 1000, 0, unknownTier, 1000 * 1 / 1e6},
		{"a service tier on a model without tiers", "acme-dated", "2026-01-01T00:00:00Z", 1_000_000, 0, flex, 1},
		{"a startDate entry is a dated price: its times are not read", "acme-date-wins", "2026-05-05T12:00:00Z", 1_000_000, 0, nil, 2},
		{"an entry with no constraint never holds", "acme-date-wins", "2025-05-05T12:00:00Z", 1_000_000, 0, nil, 1},
		{"negative lookahead rewrite: a plain name matches", "acme-look-1", "2026-01-01T00:00:00Z", 1_000_000, 0, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attrs := h.run(t, oneSpan(t, "chat", c.start, nil, chat(c.model, c.input, c.output, c.extra)))
			usd, src, _ := costOf(t, attrs)
			if usd != c.wantUSD || src != "table" {
				t.Fatalf("cost %v (%s), want %v (table)", usd, src, c.wantUSD)
			}
		})
	}
	// The TTS variant is excluded by the lookahead: the provider's fallback rates, flagged.
	attrs := h.run(t, oneSpan(t, "chat", "2026-01-01T00:00:00Z", nil, chat("acme-look-tts", 1_000_000, 0, nil)))
	if _, src, id := costOf(t, attrs); src != "fallback" || id != "fallback/acme" {
		t.Fatalf("acme-look-tts: %s %s, want fallback under acme", src, id)
	}
}

// TestOverridesWin: the operator's file (TOLLGATE_PRICES format) wins over the table, by
// name and by glob, and its source is "override"; an unknown model is never $0.
func TestOverridesWin(t *testing.T) {
	path := writeFile(t, "prices.json", `{"version":1,"models":[
		{"provider":"openai","model":"gpt-4o","input":1,"output":2},
		{"provider":"openai","model":"acme-large","match":["acme-large-*"],"input":2.5,"output":10,"tiers":[{"aboveInputTokens":100,"input":5,"output":20}]}]}`)
	h := newHarness(t, &Config{PricesFile: path})
	provider := map[string]typed{"gen_ai.provider.name": {"string": "openai"}}
	cases := []struct {
		model      string
		input      int64
		want       float64
		source, id string
	}{
		{"gpt-4o-2024-08-06", 1_000_000, 1 + 2, "override", "override:openai/gpt-4o"},
		{"acme-large-v2", 1_000_000, 5 + 20, "override", "override:openai/acme-large"},
		{"ACME-LARGE", 100, 100*2.5/1e6 + 1_000_000*10/1e6, "override", "override:openai/acme-large"},
		{"gpt-4o-mini", 1_000_000, 0.15 + 0.6, "table", "openai/gpt-4o-mini"},
	}
	for _, c := range cases {
		attrs := h.run(t, oneSpan(t, "chat", "2026-11-25T12:00:00Z", nil, chat(c.model, c.input, 1_000_000, provider)))
		usd, src, id := costOf(t, attrs)
		if usd != c.want || src != c.source || id != c.id {
			t.Errorf("%s: %v %s %s, want %v %s %s", c.model, usd, src, id, c.want, c.source, c.id)
		}
	}
	attrs := h.run(t, oneSpan(t, "chat", "2026-11-25T12:00:00Z", nil, chat("mystery-llm-9", 1000, 10, provider)))
	if usd, src, id := costOf(t, attrs); usd <= 0 || src != "fallback" || id != "fallback/openai" {
		t.Fatalf("unknown model: %v %s %s", usd, src, id)
	}
}

func sumOf(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		src, _ := dp.Attributes.Value(attrCostSource)
		out[src.AsString()] += dp.Value
	}
	return out
}

// TestSelfTelemetry: spans priced (by source) and fallbacks, through the component's
// MeterProvider; one batch with several resources, scopes and spans, some not priced.
func TestSelfTelemetry(t *testing.T) {
	h := newHarness(t, &Config{PricesFile: writeFile(t, "p.json", `{"version":1,"models":[{"provider":"openai","model":"acme","input":1,"output":1}]}`)})
	td := ptrace.NewTraces()
	models := [][]string{{"gpt-4o", "acme", "mystery-1"}, {"gpt-4o-mini", "mystery-2"}}
	for r, names := range models {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		for range 2 {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for _, m := range names {
				s := spans.AppendEmpty()
				s.SetName("chat " + m)
				for k, v := range chat(m, 10, 10, map[string]typed{"gen_ai.provider.name": {"string": "openai"}}) {
					putTyped(t, s.Attributes(), k, v)
				}
			}
			skip := spans.AppendEmpty() // an HTTP span: not an inference call
			skip.SetName("POST")
			skip.Attributes().PutStr("http.request.method", "POST")
			_ = r
		}
	}
	if err := h.proc.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	got := sumOf(t, h.tel, "otelcol_processor_tollgate_spans_priced")
	want := map[string]int64{"table": 4, "override": 2, "fallback": 4}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("spans_priced{source=%s} = %d, want %d (all %v)", k, got[k], v, got)
		}
	}
	if fb := sumOf(t, h.tel, "otelcol_processor_tollgate_spans_fallback_priced"); fb[""] != 4 {
		t.Errorf("spans_fallback_priced = %v, want 4", fb)
	}
}

// TestShutdown: the collector's own check that a processor emits nothing after Shutdown.
func TestShutdown(t *testing.T) {
	processortest.VerifyShutdown(t, NewFactory(), &Config{})
}
