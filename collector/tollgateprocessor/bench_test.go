package tollgateprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchBatch: a batch shaped like the load run's (bench/collector.bench.ts): GenAI spans over 8
// models / 7 providers, one unknown, with the usual ~12 attributes, plus what the SDK sends
// already priced. Reused across iterations with the cost attributes stripped again, so each
// iteration prices every span afresh.
func benchBatch(n int) ptrace.Traces {
	models := [][2]string{
		{"openai", "gpt-4o-2024-08-06"}, {"anthropic", "claude-sonnet-4-5-20250929"}, {"gcp.gemini", "gemini-2.5-pro"},
		{"aws.bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0"}, {"mistral_ai", "mistral-large-latest"},
		{"groq", "llama-3.3-70b-versatile"}, {"deepseek", "deepseek-chat"}, {"openai", "mystery-llm-9"},
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench-service")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		m := models[i%len(models)]
		s := spans.AppendEmpty()
		s.SetName("chat " + m[1])
		s.SetStartTimestamp(pcommon.Timestamp(1_764_000_000_000_000_000 + int64(i)*1_000_000))
		a := s.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", m[0])
		a.PutStr("gen_ai.request.model", m[1])
		a.PutStr("gen_ai.response.model", m[1])
		a.PutStr("gen_ai.response.id", "resp-0123456789")
		a.PutInt("gen_ai.usage.input_tokens", int64(1000+i%5000))
		a.PutInt("gen_ai.usage.output_tokens", int64(100+i%700))
		a.PutInt("gen_ai.usage.cache_read.input_tokens", int64(i%900))
		a.PutStr("server.address", "api.example.com")
		a.PutInt("server.port", 443)
		a.PutStr("gen_ai.agent.name", "bench-agent")
	}
	return td
}

var written = []string{attrCostUSD, attrCostInput, attrCostOutput, attrCostCacheRead, attrCostCacheWrite, attrCostSource, attrUsageCost, attrCostPricedBy, attrCostPriceID}

func BenchmarkProcessTraces(b *testing.B) {
	h := newHarness(b, &Config{})
	p := h.proc
	const n = 1000
	td := benchBatch(n)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := range spans.Len() {
			attrs := spans.At(i).Attributes()
			for _, k := range written {
				attrs.Remove(k)
			}
		}
		h.sink.Reset()
		b.StartTimer()
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
}
