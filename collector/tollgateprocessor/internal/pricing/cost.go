// Package pricing is the Go reading of tollgate's price data: the compiled table
// (src/pricing/data/prices.json, embedded), the operator's override file
// (TOLLGATE_PRICES format), model-name normalisation, provider hints, fallback rates
// for unknown models, prices in force at a time and service tiers. It follows the
// TypeScript implementation (src/pricing/) rule for rule; test/golden/cost-cases.json,
// generated from the TypeScript side, pins the two together.
package pricing

import "math"

// million: rates are USD per million tokens. Dividing (rather than multiplying by
// 1e-6) is what the TypeScript side does, and keeps 2.5/1e6 exact to the last bit.
const million = 1e6

// Rates are USD per million tokens. An optional rate the data does not give is NaN.
type Rates struct {
	Input        float64
	Output       float64
	CacheRead    float64
	CacheWrite   float64
	CacheWrite1h float64
	Reasoning    float64
}

// Tier is a long-context tier: it applies when a request's input tokens are
// strictly above AboveInputTokens, and then prices the whole request.
type Tier struct {
	Rates
	AboveInputTokens float64
}

// Variant is one complete price of a model: base rates and their long-context tiers.
// The base price, each dated / time-of-day entry and each service tier is one Variant.
type Variant struct {
	Rates
	Tiers []Tier
}

// Usage of one call in the GenAI-convention shape: Input INCLUDES cache reads and
// writes, Output INCLUDES reasoning; the sub-counts are parts of those totals.
type Usage struct {
	Input        float64
	Output       float64
	CacheRead    float64
	CacheWrite   float64
	CacheWrite1h float64
	Reasoning    float64
	Batch        bool
}

// Cost of one call in USD; Total is the sum of the four parts.
type Cost struct {
	Input      float64
	Output     float64
	CacheRead  float64
	CacheWrite float64
	Total      float64
}

// count makes a token count safe: NaN, negative and infinite counts are 0.
func count(n float64) float64 {
	if n > 0 && !math.IsInf(n, 0) {
		return n
	}
	return 0
}

// rate makes a rate safe: a missing (NaN) or broken rate never yields a negative or NaN cost.
func rate(r, fallback float64) float64 {
	if r >= 0 && !math.IsInf(r, 0) {
		return r
	}
	return fallback
}

// RatesFor picks the rates a request pays: the tier with the highest threshold the
// input strictly exceeds, else the base rates.
func (v *Variant) RatesFor(input float64) *Rates {
	chosen := &v.Rates
	threshold := -1.0
	for i := range v.Tiers {
		t := &v.Tiers[i]
		if input > t.AboveInputTokens && t.AboveInputTokens > threshold {
			chosen = &t.Rates
			threshold = t.AboveInputTokens
		}
	}
	return chosen
}

// ComputeCost prices one call exactly as src/pricing/cost.ts computeCost does: the same
// float64 operations in the same order. Every product is wrapped in float64(), which
// the Go spec defines as a rounding point, so no platform fuses them into an FMA and the
// results stay bit-identical to JavaScript's.
func ComputeCost(u Usage, v *Variant, batchDiscount float64) Cost {
	input := count(u.Input)
	output := count(u.Output)
	cacheRead := math.Min(count(u.CacheRead), input)
	cacheWrite := math.Min(count(u.CacheWrite), input-cacheRead)
	cacheWrite1h := math.Min(count(u.CacheWrite1h), cacheWrite)
	reasoning := math.Min(count(u.Reasoning), output)

	r := v.RatesFor(input)
	inRate := rate(r.Input, 0)
	outRate := rate(r.Output, 0)
	discount := 1.0
	if u.Batch && !math.IsNaN(batchDiscount) {
		discount = rate(batchDiscount, 1)
	}

	var c Cost
	c.Input = float64(float64((input-cacheRead-cacheWrite)*inRate)*discount) / million
	c.CacheRead = float64(float64(cacheRead*rate(r.CacheRead, inRate))*discount) / million
	writes := float64((cacheWrite-cacheWrite1h)*rate(r.CacheWrite, inRate)) + float64(cacheWrite1h*rate(r.CacheWrite1h, float64(2*inRate)))
	c.CacheWrite = float64(writes*discount) / million
	outs := float64((output-reasoning)*outRate) + float64(reasoning*rate(r.Reasoning, outRate))
	c.Output = float64(outs*discount) / million
	c.Total = c.Input + c.Output + c.CacheRead + c.CacheWrite
	return c
}
