package tollgateprocessor

import (
	"github.com/tollgate-dev/tollgate/collector/tollgateprocessor/internal/pricing"
)

// Config of the tollgate processor.
//
//	processors:
//	  tollgate:
//	    prices_file: ${env:TOLLGATE_PRICES:-}   # optional override file, docs/pricing.md "Price override file (`TOLLGATE_PRICES`)"
//	    table_file: ""                          # optional compiled table replacing the built-in one
type Config struct {
	// PricesFile is an operator's price override file in the TOLLGATE_PRICES format
	// (the same file the SDK reads); its prices win over the table. Empty: none.
	PricesFile string `mapstructure:"prices_file"`
	// TableFile replaces the built-in compiled table (a newer src/pricing/data/prices.json)
	// without rebuilding the collector. Empty: the table built into the binary.
	TableFile string `mapstructure:"table_file"`
	// MemoEntries caps the distinct (provider, model) names whose resolution is kept
	// before the memo starts afresh. 0: 4096.
	MemoEntries int `mapstructure:"memo_entries"`
}

// Validate reads and checks the price files now, so a missing or malformed file stops
// the collector at start with an error naming the file, the JSON path and what was
// expected, instead of surfacing on the first span.
func (c *Config) Validate() error {
	if c.MemoEntries < 0 {
		return &pricing.ConfigError{Source: "tollgate processor memo_entries", Value: c.MemoEntries, Expected: "a count >= 0 (0 = the default, 4096)"}
	}
	_, err := c.table()
	return err
}

func (c *Config) table() (*pricing.Table, error) {
	return pricing.NewTable(pricing.Options{TableFile: c.TableFile, OverridesFile: c.PricesFile, MemoEntries: c.MemoEntries})
}
