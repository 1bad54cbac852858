package tollgateprocessor

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tollgate-dev/tollgate/collector/tollgateprocessor/internal/pricing"
)

// Attribute names written (the SDK's, src/semconv.ts) and read from the resource.
const (
	attrCostUSD        = "tollgate.cost.usd"
	attrCostInput      = "tollgate.cost.input_usd"
	attrCostOutput     = "tollgate.cost.output_usd"
	attrCostCacheRead  = "tollgate.cost.cache_read_usd"
	attrCostCacheWrite = "tollgate.cost.cache_write_usd"
	attrCostSource     = "tollgate.cost.source"
	attrCostPricedBy   = "tollgate.cost.priced_by"
	attrCostPriceID    = "tollgate.cost.price_id"
	attrUsageCost      = "gen_ai.usage.cost"
	attrAgentName      = "gen_ai.agent.name"
	attrProviderName   = "gen_ai.provider.name"
	attrRequestModel   = "gen_ai.request.model"
	attrServiceName    = "service.name"
	// errorBudgetExceeded marks a call tollgate's policy refused: nothing was sent, nothing to price.
	errorBudgetExceeded = "tollgate.budget_exceeded"
	pricedByCollector   = "collector"
)

// scopeName names the processor's own meter (the collector's component telemetry).
const scopeName = "github.com/tollgate-dev/tollgate/collector/tollgateprocessor"

// pricer prices the spans of one pipeline. The table is shared and safe for concurrent
// use; each ConsumeTraces call works on its own view.
type pricer struct {
	logger *zap.Logger
	table  *pricing.Table
	views  sync.Pool

	priced, fallbacks metric.Int64Counter
	bySource          map[string]metric.AddOption
	fallbackAttrs     metric.AddOption
}

func newPricer(set processor.Settings, cfg *Config) (*pricer, error) {
	table, err := cfg.table()
	if err != nil {
		return nil, err
	}
	meter := set.MeterProvider.Meter(scopeName)
	priced, err := meter.Int64Counter("otelcol_processor_tollgate_spans_priced",
		metric.WithDescription("GenAI spans the tollgate processor priced (they arrived without tollgate.cost.usd), by tollgate.cost.source."),
		metric.WithUnit("{span}"))
	if err != nil {
		return nil, err
	}
	fallbacks, err := meter.Int64Counter("otelcol_processor_tollgate_spans_fallback_priced",
		metric.WithDescription("GenAI spans priced with fallback rates: their model is in no price table (add it to the prices_file)."),
		metric.WithUnit("{span}"))
	if err != nil {
		return nil, err
	}
	p := &pricer{logger: set.Logger, table: table, priced: priced, fallbacks: fallbacks, bySource: map[string]metric.AddOption{}}
	for _, s := range []string{pricing.SourceTable, pricing.SourceOverride, pricing.SourceFallback} {
		p.bySource[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String(attrCostSource, s)))
	}
	p.fallbackAttrs = metric.WithAttributeSet(attribute.NewSet())
	p.views.New = func() any { return new(view) }
	set.Logger.Info("tollgate processor: price table loaded",
		zap.String("source", table.Source), zap.String("as_of", table.AsOf),
		zap.String("prices_file", cfg.PricesFile), zap.String("table_file", cfg.TableFile))
	return p, nil
}

// counts of one batch, added to the counters once per batch.
type counts struct{ table, override, fallback int64 }

func (p *pricer) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	v := p.views.Get().(*view)
	defer p.views.Put(v)
	var c counts
	now := time.Now().UnixNano()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		agent := "" // resolved once per resource, on the first span that needs it
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if !p.price(span, v, &c, now) {
					continue
				}
				if !v.hasAgent {
					if agent == "" {
						agent = resourceAgent(rs.Resource().Attributes())
					}
					span.Attributes().PutStr(attrAgentName, agent)
				}
			}
		}
	}
	if c.table > 0 {
		p.priced.Add(ctx, c.table, p.bySource[pricing.SourceTable])
	}
	if c.override > 0 {
		p.priced.Add(ctx, c.override, p.bySource[pricing.SourceOverride])
	}
	if c.fallback > 0 {
		p.priced.Add(ctx, c.fallback, p.bySource[pricing.SourceFallback])
		p.fallbacks.Add(ctx, c.fallback, p.fallbackAttrs)
	}
	return td, nil
}

// price prices one span when it is an inference call with usage and no cost yet;
// reports whether it did.
func (p *pricer) price(span ptrace.Span, v *view, c *counts, now int64) bool {
	attrs := span.Attributes()
	v.read(attrs)
	if !v.isInference(span.Name()) || v.hasCost || v.str[sErrorType] == errorBudgetExceeded {
		return false
	}
	usage, ok := v.usage()
	if !ok {
		return false // no token counts: nothing to price (e.g. a cut stream the library did not measure)
	}
	model := v.model()
	if model == "" {
		model = "unknown"
	}
	provider := v.provider()
	lookup, fresh := p.table.Lookup(model, provider)
	at := int64(span.StartTimestamp())
	if at == 0 {
		at = now
	}
	cost := pricing.ComputeCost(usage, lookup.Price.At(at, v.serviceTier()), lookup.Price.BatchDiscount)

	attrs.EnsureCapacity(attrs.Len() + 12)
	attrs.PutDouble(attrCostUSD, cost.Total)
	attrs.PutDouble(attrCostInput, cost.Input)
	attrs.PutDouble(attrCostOutput, cost.Output)
	attrs.PutDouble(attrCostCacheRead, cost.CacheRead)
	attrs.PutDouble(attrCostCacheWrite, cost.CacheWrite)
	attrs.PutStr(attrCostSource, lookup.Source)
	attrs.PutDouble(attrUsageCost, cost.Total)
	attrs.PutStr(attrCostPricedBy, pricedByCollector)
	attrs.PutStr(attrCostPriceID, lookup.Price.ID)
	// The derived cost metrics (signal_to_metrics) label by these; fill them from the dialect read.
	if !v.hasProvider && provider != "" {
		attrs.PutStr(attrProviderName, provider)
	}
	if !v.hasRequestModel {
		attrs.PutStr(attrRequestModel, model)
	}

	switch lookup.Source {
	case pricing.SourceTable:
		c.table++
	case pricing.SourceOverride:
		c.override++
	default:
		c.fallback++
		if fresh {
			r := lookup.Price.Base.Rates
			p.logger.Warn("tollgate processor: no price for this model; priced at the provider's most expensive known rates (add it to the prices_file to price it exactly)",
				zap.String("model", model), zap.String("provider", provider), zap.String("price_id", lookup.Price.ID),
				zap.Float64("input_usd_per_million", r.Input), zap.Float64("output_usd_per_million", r.Output))
		}
	}
	return true
}

// resourceAgent: the agent when the span names none (the TypeScript processor's rule):
// the resource's gen_ai.agent.name, else service.name, else unknown_service.
func resourceAgent(attrs pcommon.Map) string {
	for _, key := range []string{attrAgentName, attrServiceName} {
		if val, ok := attrs.Get(key); ok && val.Type() == pcommon.ValueTypeStr && val.Str() != "" {
			return val.Str()
		}
	}
	return "unknown_service"
}
