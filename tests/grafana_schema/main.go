// Command grafana_schema checks Grafana dashboards (contrib/grafana) against Grafana's own
// schema, as its Foundation SDK generates it: a strict decoding (no unknown field, no
// missing required field, every type right, each panel's options by its panel type and
// each query as a Prometheus query), then the SDK's validation. Run by
// tests/unit/test_prometheus_rules.py: go run . FILE...
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The panel types kafkascope's dashboards use, each with its options' schema (the Python
// test refuses any other type, which would pass here unchecked).
var panels = map[string]variants.PanelcfgConfig{
	"bargauge":       bargauge.VariantConfig(),
	"stat":           stat.VariantConfig(),
	"state-timeline": statetimeline.VariantConfig(),
	"table":          table.VariantConfig(),
	"timeseries":     timeseries.VariantConfig(),
}

// failed tells a real error from the SDK's empty cog.BuildErrors, which its functions
// return as a non-nil error interface holding a nil slice.
func failed(err error) bool {
	var build cog.BuildErrors
	if errors.As(err, &build) {
		return len(build) > 0
	}
	return err != nil
}

func main() {
	runtime := cog.NewRuntime()
	for _, config := range panels {
		runtime.RegisterPanelcfgVariant(config)
	}
	runtime.RegisterDataqueryVariant(prometheus.VariantConfig())
	bad := 0
	for _, path := range os.Args[1:] {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Println(path, err)
			bad++
			continue
		}
		var d dashboard.Dashboard
		if err := d.UnmarshalJSONStrict(raw); failed(err) {
			fmt.Printf("%s: %v\n", path, err)
			bad++
			continue
		}
		if err := d.Validate(); failed(err) {
			fmt.Printf("%s: %v\n", path, err)
			bad++
			continue
		}
		fmt.Printf("%s: ok, %d panels\n", path, len(d.Panels))
	}
	if bad > 0 {
		os.Exit(1)
	}
}
