package tollgateprocessor

import (
	"math"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tollgate-dev/tollgate/collector/tollgateprocessor/internal/pricing"
)

// Reading inference calls out of spans of any instrumentation: src/processor/dialects.ts,
// rule for rule. A span's attributes are scanned once into a view (pcommon.Map lookups
// are linear scans, and a span is asked about ~30 names).

// Numeric attributes, by slot; NaN in a view means "absent, not a number, negative or infinite".
const (
	nInput             = iota // gen_ai.usage.input_tokens
	nOutput                   // gen_ai.usage.output_tokens
	nPrompt                   // gen_ai.usage.prompt_tokens (older conventions)
	nCompletion               // gen_ai.usage.completion_tokens
	nOIPrompt                 // OpenInference llm.token_count.prompt
	nOICompletion             // llm.token_count.completion
	nAIInput                  // Vercel ai.usage.inputTokens (v5+)
	nAIOutput                 // ai.usage.outputTokens
	nAIPrompt                 // ai.usage.promptTokens (v4)
	nAICompletion             // ai.usage.completionTokens
	nAIEmbed                  // ai.usage.tokens (embeddings)
	nCacheRead                // gen_ai.usage.cache_read.input_tokens
	nOLCacheRead              // OpenLLMetry gen_ai.usage.cache_read_input_tokens
	nOICacheRead              // llm.token_count.prompt_details.cache_read
	nAICacheRead              // ai.usage.inputTokenDetails.cacheReadTokens
	nAICachedInput            // ai.usage.cachedInputTokens
	nCacheCreation            // gen_ai.usage.cache_creation.input_tokens
	nCacheWrite               // gen_ai.usage.cache_write.input_tokens
	nOLCacheCreation          // OpenLLMetry gen_ai.usage.cache_creation_input_tokens
	nOICacheWrite             // llm.token_count.prompt_details.cache_write
	nAICacheWrite             // ai.usage.inputTokenDetails.cacheWriteTokens
	nCacheWrite1h             // Anthropic SDK anthropic.usage.cache_creation.ephemeral_1h_input_tokens
	nReasoning                // gen_ai.usage.reasoning.output_tokens
	nOIReasoning              // llm.token_count.completion_details.reasoning
	nAIReasoningDetail        // ai.usage.outputTokenDetails.reasoningTokens
	nAIReasoning              // ai.usage.reasoningTokens
	numSlots
)

var numericKeys = map[string]int{
	"gen_ai.usage.input_tokens":                                nInput,
	"gen_ai.usage.output_tokens":                               nOutput,
	"gen_ai.usage.prompt_tokens":                               nPrompt,
	"gen_ai.usage.completion_tokens":                           nCompletion,
	"llm.token_count.prompt":                                   nOIPrompt,
	"llm.token_count.completion":                               nOICompletion,
	"ai.usage.inputTokens":                                     nAIInput,
	"ai.usage.outputTokens":                                    nAIOutput,
	"ai.usage.promptTokens":                                    nAIPrompt,
	"ai.usage.completionTokens":                                nAICompletion,
	"ai.usage.tokens":                                          nAIEmbed,
	"gen_ai.usage.cache_read.input_tokens":                     nCacheRead,
	"gen_ai.usage.cache_read_input_tokens":                     nOLCacheRead,
	"llm.token_count.prompt_details.cache_read":                nOICacheRead,
	"ai.usage.inputTokenDetails.cacheReadTokens":               nAICacheRead,
	"ai.usage.cachedInputTokens":                               nAICachedInput,
	"gen_ai.usage.cache_creation.input_tokens":                 nCacheCreation,
	"gen_ai.usage.cache_write.input_tokens":                    nCacheWrite,
	"gen_ai.usage.cache_creation_input_tokens":                 nOLCacheCreation,
	"llm.token_count.prompt_details.cache_write":               nOICacheWrite,
	"ai.usage.inputTokenDetails.cacheWriteTokens":              nAICacheWrite,
	"anthropic.usage.cache_creation.ephemeral_1h_input_tokens": nCacheWrite1h,
	"gen_ai.usage.reasoning.output_tokens":                     nReasoning,
	"llm.token_count.completion_details.reasoning":             nOIReasoning,
	"ai.usage.outputTokenDetails.reasoningTokens":              nAIReasoningDetail,
	"ai.usage.reasoningTokens":                                 nAIReasoning,
}

// String attributes, by slot.
const (
	sOperation       = iota // gen_ai.operation.name
	sOIKind                 // openinference.span.kind
	sAIOperation            // ai.operationId
	sLLMType                // OpenLLMetry llm.request.type
	sResponseModel          // gen_ai.response.model
	sRequestModel           // gen_ai.request.model
	sOIModel                // llm.model_name
	sAIModel                // ai.model.id
	sOIEmbedModel           // embedding.model_name
	sProviderName           // gen_ai.provider.name
	sAIProvider             // ai.model.provider
	sSystem                 // gen_ai.system
	sOIProvider             // llm.provider
	sOISystem               // llm.system
	sErrorType              // error.type
	sTierResponse           // openai.response.service_tier
	sTierRequest            // openai.request.service_tier
	sTierResponseOld        // gen_ai.openai.response.service_tier (conventions before 1.37)
	sTierRequestOld         // gen_ai.openai.request.service_tier
	strSlots
)

var stringKeys = map[string]int{
	"gen_ai.operation.name":               sOperation,
	"openinference.span.kind":             sOIKind,
	"ai.operationId":                      sAIOperation,
	"llm.request.type":                    sLLMType,
	"gen_ai.response.model":               sResponseModel,
	"gen_ai.request.model":                sRequestModel,
	"llm.model_name":                      sOIModel,
	"ai.model.id":                         sAIModel,
	"embedding.model_name":                sOIEmbedModel,
	"gen_ai.provider.name":                sProviderName,
	"ai.model.provider":                   sAIProvider,
	"gen_ai.system":                       sSystem,
	"llm.provider":                        sOIProvider,
	"llm.system":                          sOISystem,
	"error.type":                          sErrorType,
	"openai.response.service_tier":        sTierResponse,
	"openai.request.service_tier":         sTierRequest,
	"gen_ai.openai.response.service_tier": sTierResponseOld,
	"gen_ai.openai.request.service_tier":  sTierRequestOld,
}

// stringSlot offsets string slots in attributeKeys: one map lookup per attribute tells
// whether it matters and where it goes (the scan is the processor's hottest loop).
const stringSlot = 1000

var attributeKeys = func() map[string]int {
	m := make(map[string]int, len(numericKeys)+len(stringKeys))
	for k, slot := range numericKeys {
		m[k] = slot
	}
	for k, slot := range stringKeys {
		m[k] = stringSlot + slot
	}
	return m
}()

// view is what pricing needs from one span's attributes, read in one pass.
type view struct {
	num                                    [numSlots]float64
	str                                    [strSlots]string
	isStr                                  [strSlots]bool // the attribute is a string (maybe empty): the dialect markers test the type, not the value
	hasCost                                bool           // tollgate.cost.usd is a number: priced upstream (SDK or another collector)
	hasAgent, hasProvider, hasRequestModel bool
}

func (v *view) read(attrs pcommon.Map) {
	for i := range v.num {
		v.num[i] = math.NaN()
	}
	v.str = [strSlots]string{}
	v.isStr = [strSlots]bool{}
	v.hasCost, v.hasAgent, v.hasProvider, v.hasRequestModel = false, false, false, false
	for k, val := range attrs.All() {
		switch k {
		case attrCostUSD:
			t := val.Type()
			v.hasCost = t == pcommon.ValueTypeDouble || t == pcommon.ValueTypeInt
			continue
		case attrAgentName:
			v.hasAgent = true
			continue
		}
		key, ok := attributeKeys[k]
		if !ok {
			continue
		}
		if key >= stringSlot {
			slot := key - stringSlot
			if val.Type() == pcommon.ValueTypeStr {
				v.str[slot] = val.Str()
				v.isStr[slot] = true
			}
			switch slot {
			case sProviderName:
				v.hasProvider = true
			case sRequestModel:
				v.hasRequestModel = true
			}
			continue
		}
		var f float64
		switch val.Type() {
		case pcommon.ValueTypeInt:
			f = float64(val.Int())
		case pcommon.ValueTypeDouble:
			f = val.Double()
		default:
			continue
		}
		if f >= 0 && !math.IsInf(f, 0) {
			v.num[key] = f
		}
	}
}

// s returns a string attribute when it is a non-empty string (dialects.ts str()).
func (v *view) s(slot int) string { return v.str[slot] }

var inferenceOperations = map[string]bool{"chat": true, "text_completion": true, "embeddings": true, "generate_content": true}

// aiCallOperations: the Vercel spans that are one provider call; their parents repeat the summed usage.
var aiCallOperations = map[string]bool{
	"ai.generateText.doGenerate": true, "ai.streamText.doStream": true,
	"ai.generateObject.doGenerate": true, "ai.streamObject.doStream": true,
	"ai.embed.doEmbed": true, "ai.embedMany.doEmbed": true,
}

var openllmetryInferenceTypes = map[string]bool{"chat": true, "completion": true, "embedding": true}

// isInference: whether a span is one inference call rather than an agent / workflow / tool
// span that may repeat its children's usage (dialects.ts isInferenceSpan).
func (v *view) isInference(name string) bool {
	switch {
	case v.isStr[sOperation]:
		return inferenceOperations[v.str[sOperation]]
	case v.isStr[sOIKind]:
		return v.str[sOIKind] == "LLM" || v.str[sOIKind] == "EMBEDDING"
	case v.isStr[sAIOperation]:
		return aiCallOperations[v.str[sAIOperation]]
	case strings.HasPrefix(name, "ai."):
		return aiCallOperations[name]
	case v.isStr[sLLMType]:
		return openllmetryInferenceTypes[v.str[sLLMType]]
	}
	return false
}

func firstString(v *view, slots ...int) string {
	for _, s := range slots {
		if v.str[s] != "" {
			return v.str[s]
		}
	}
	return ""
}

// model: the response model (the snapshot actually served) when reported, else the requested one.
func (v *view) model() string {
	return firstString(v, sResponseModel, sRequestModel, sOIModel, sAIModel, sOIEmbedModel)
}

// vercelProviders: Vercel provider ids by prefix -> gen_ai.provider.name values.
var vercelProviders = [][2]string{
	{"google.vertex", "gcp.vertex_ai"},
	{"google.generative-ai", "gcp.gemini"},
	{"google-vertex", "gcp.vertex_ai"},
	{"amazon-bedrock", "aws.bedrock"},
	{"azure-openai", "azure.ai.openai"},
	{"azure", "azure.ai.inference"},
	{"google", "gcp.gemini"},
	{"mistral", "mistral_ai"},
	{"bedrock", "aws.bedrock"},
	{"xai", "x_ai"},
}

func vercelProvider(id string) string {
	lower := strings.ToLower(id)
	for _, p := range vercelProviders {
		if lower == p[0] || strings.HasPrefix(lower, p[0]+".") || strings.HasPrefix(lower, p[0]+"-") {
			return p[1]
		}
	}
	if dot := strings.IndexByte(id, '.'); dot > 0 {
		return id[:dot]
	}
	return id
}

// provider: gen_ai.provider.name, else Vercel's ai.model.provider (mapped), else the older names.
func (v *view) provider() string {
	if p := v.s(sProviderName); p != "" {
		return p
	}
	if p := v.s(sAIProvider); p != "" {
		return vercelProvider(p)
	}
	return firstString(v, sSystem, sOIProvider, sOISystem)
}

// serviceTier: the tier the call ran in, as written (cost-processor.ts serviceTierOf): the
// response's, else the request's, registry names before the older gen_ai.openai.* ones; "" for none.
func (v *view) serviceTier() string {
	for _, slot := range []int{sTierResponse, sTierResponseOld, sTierRequest, sTierRequestOld} {
		if v.isStr[slot] {
			return v.str[slot]
		}
	}
	return ""
}

func firstNum(v *view, slots ...int) float64 {
	for _, s := range slots {
		if !math.IsNaN(v.num[s]) {
			return v.num[s]
		}
	}
	return math.NaN()
}

func orZero(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return f
}

// usage in the GenAI-convention shape from whichever dialect carries it (dialects.ts readUsage):
// totals from the first dialect that has any; sub-counts from whichever has them; an
// exclusive input (cache parts larger than the whole) gets the cache counts added.
func (v *view) usage() (pricing.Usage, bool) {
	in, out := v.num[nInput], v.num[nOutput]
	if math.IsNaN(in) && math.IsNaN(out) {
		in, out = v.num[nPrompt], v.num[nCompletion]
	}
	if math.IsNaN(in) && math.IsNaN(out) {
		in, out = v.num[nOIPrompt], v.num[nOICompletion]
	}
	if math.IsNaN(in) && math.IsNaN(out) {
		in = firstNum(v, nAIInput, nAIPrompt, nAIEmbed)
		out = firstNum(v, nAIOutput, nAICompletion)
	}
	if math.IsNaN(in) && math.IsNaN(out) {
		return pricing.Usage{}, false
	}
	u := pricing.Usage{Input: orZero(in), Output: orZero(out)}
	cacheRead := orZero(firstNum(v, nCacheRead, nOLCacheRead, nOICacheRead, nAICacheRead, nAICachedInput))
	cacheWriteAny := orZero(firstNum(v, nCacheCreation, nCacheWrite, nOLCacheCreation, nOICacheWrite, nAICacheWrite))
	cacheWrite1h := orZero(v.num[nCacheWrite1h])
	cacheWrite := cacheWrite1h
	if cacheWriteAny > cacheWrite1h {
		cacheWrite = cacheWriteAny
	}
	reasoning := orZero(firstNum(v, nReasoning, nOIReasoning, nAIReasoningDetail, nAIReasoning))
	if cacheRead+cacheWrite > u.Input {
		u.Input += cacheRead + cacheWrite
	}
	if reasoning > u.Output {
		u.Output += reasoning
	}
	u.CacheRead, u.CacheWrite, u.CacheWrite1h, u.Reasoning = cacheRead, cacheWrite, cacheWrite1h, reasoning
	return u, true
}
