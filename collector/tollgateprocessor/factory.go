// Package tollgateprocessor is an OpenTelemetry Collector processor that prices GenAI
// spans: every inference span that arrives without tollgate.cost.usd, in any dialect
// tollgate's TypeScript processor reads, gets the same cost attributes the SDK writes
// plus tollgate.cost.priced_by=collector. See README.md.
package tollgateprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// typeStr is the component's name in collector configs (`processors: tollgate:`).
const typeStr = "tollgate"

// NewFactory returns the factory the collector builder (ocb) registers.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		component.MustNewType(typeStr),
		func() component.Config { return &Config{} },
		processor.WithTraces(createTraces, component.StabilityLevelAlpha),
	)
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newPricer(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
