// Command otelcol is an OpenTelemetry Collector with only the components
// kretspan's tests and examples use (components.go), built from the published
// collector modules that go.mod pins.
package main

import (
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// version is the collector release the modules in go.mod belong to; build.sh
// checks that go.mod pins it.
const version = "0.165.0"

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol",
			Description: "OpenTelemetry Collector for kretspan's end-to-end tests",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// file: for --config=PATH, env: for ${env:VAR} in configs,
				// yaml: for --set and inline overrides.
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
		ProviderModules: map[string]string{
			"file": "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0",
			"env":  "go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0",
			"yaml": "go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.71.0",
		},
	}
	// The command has the usual subcommands: validate, components, print-config.
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		os.Exit(1) // the command has printed the error
	}
}
