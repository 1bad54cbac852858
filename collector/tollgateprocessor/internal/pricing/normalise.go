package pricing

import (
	"regexp"
	"strings"
)

// providerAliases maps provider names seen on spans and requests to the compiled data's
// provider ids, in preference order (src/pricing/normalise.ts PROVIDER_ALIASES).
var providerAliases = map[string][]string{
	"openai":             {"openai"},
	"azure.ai.openai":    {"azure", "openai"},
	"az.ai.openai":       {"azure", "openai"},
	"azure.ai.inference": {"azure", "openai"},
	"azure":              {"azure", "openai"},
	"azure_openai":       {"azure", "openai"},
	"azure_ai":           {"azure", "openai"},
	"anthropic":          {"anthropic"},
	"aws.bedrock":        {"aws"},
	"bedrock":            {"aws"},
	"bedrock_converse":   {"aws"},
	"aws":                {"aws"},
	"gcp.gemini":         {"google"},
	"gcp.vertex_ai":      {"google"},
	"gcp.gen_ai":         {"google"},
	"google":             {"google"},
	"gemini":             {"google"},
	"vertex_ai":          {"google"},
	"vertex":             {"google"},
	"mistral":            {"mistral"},
	"mistral_ai":         {"mistral"},
	"deepseek":           {"deepseek"},
	"x-ai":               {"x-ai"},
	"x_ai":               {"x-ai"},
	"xai":                {"x-ai"},
	"groq":               {"groq"},
	"together":           {"together"},
	"together_ai":        {"together"},
	"fireworks":          {"fireworks"},
	"fireworks_ai":       {"fireworks"},
	"cerebras":           {"cerebras"},
	"cohere":             {"cohere"},
	"moonshot":           {"moonshotai"},
	"moonshotai":         {"moonshotai"},
	"openrouter":         {"openrouter"},
}

// ProviderIDs returns the data providers a provider name stands for (nil when unknown).
func ProviderIDs(provider string) []string {
	if provider == "" {
		return nil
	}
	return providerAliases[strings.ToLower(provider)]
}

var (
	// Bedrock ids: optional region / inference-profile prefix, vendor, model, optional -vN[:M] version.
	bedrock        = regexp.MustCompile(`^(?:(?:us|eu|apac|ap|au|jp|ca|us-gov|global|regional)\.)?(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer|moonshot|moonshotai|minimax|google|nvidia)\.(.+)$`)
	bedrockVersion = regexp.MustCompile(`-v\d+(?::\d+)?$|:\d+$`)
	// Dated snapshots and aliases; an MMDD suffix is left alone (ambiguous with sizes).
	snapshot      = regexp.MustCompile(`-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$`)
	vertexVersion = regexp.MustCompile(`@[^@]*$`)
	vertexV       = regexp.MustCompile(`-v\d+$`)
)

// replaceFirst removes the leftmost match of re, as JavaScript's String.replace without /g does.
func replaceFirst(re *regexp.Regexp, s string) string {
	loc := re.FindStringIndex(s)
	if loc == nil {
		return s
	}
	return s[:loc[0]] + s[loc[1]:]
}

// NameCandidates returns the names to try for a lowercased model name, most specific
// first: as given, without a gateway prefix, without the Bedrock region / vendor /
// version, without a Vertex @version, without a dated snapshot or -latest suffix.
func NameCandidates(lower string) []string {
	out := []string{lower}
	add := func(s string) {
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if slash := strings.IndexByte(lower, '/'); slash >= 0 {
		add(lower[slash+1:])
		add(lower[strings.LastIndexByte(lower, '/')+1:])
	}
	for i := 0; i < len(out) && len(out) < 16; i++ {
		s := out[i]
		if m := bedrock.FindStringSubmatch(s); m != nil {
			add(m[1])
			add(replaceFirst(bedrockVersion, m[1]))
		}
		add(replaceFirst(bedrockVersion, s))
		add(replaceFirst(vertexVersion, s))
		add(replaceFirst(snapshot, s))
		add(replaceFirst(vertexV, s))
	}
	return out
}

// ProviderFromName returns the provider a name's own prefix points at
// (`anthropic/claude-…`, `us.anthropic.claude-…-v1:0` on Bedrock).
func ProviderFromName(lower string) []string {
	if slash := strings.IndexByte(lower, '/'); slash > 0 {
		if ids := ProviderIDs(lower[:slash]); len(ids) > 0 {
			return ids
		}
	}
	if bedrock.MatchString(lower) && bedrockVersion.MatchString(lower) {
		return []string{"aws"}
	}
	return nil
}
