package main

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

const (
	core    = "go.opentelemetry.io/collector/"
	contrib = "github.com/open-telemetry/opentelemetry-collector-contrib/"
)

// components lists what this collector can be configured with. A config that
// names anything else is refused by `otelcol validate`, which is how the
// tests check that the configs kretspan ships fit a stock collector.
//
// contrib's k8sattributesprocessor is missing on purpose: see README.md.
func components() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error

	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
	); err != nil {
		return f, err
	}
	f.ReceiverModules = map[component.Type]string{
		otlpreceiver.NewFactory().Type(): core + "receiver/otlpreceiver v0.165.0",
	}

	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		batchprocessor.NewFactory(),
		memorylimiterprocessor.NewFactory(),
	); err != nil {
		return f, err
	}
	f.ProcessorModules = map[component.Type]string{
		batchprocessor.NewFactory().Type():         core + "processor/batchprocessor v0.165.0",
		memorylimiterprocessor.NewFactory().Type(): core + "processor/memorylimiterprocessor v0.165.0",
	}

	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		otlpexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
		debugexporter.NewFactory(),
		prometheusexporter.NewFactory(),
	); err != nil {
		return f, err
	}
	f.ExporterModules = map[component.Type]string{
		otlpexporter.NewFactory().Type():       core + "exporter/otlpexporter v0.165.0",
		otlphttpexporter.NewFactory().Type():   core + "exporter/otlphttpexporter v0.165.0",
		debugexporter.NewFactory().Type():      core + "exporter/debugexporter v0.165.0",
		prometheusexporter.NewFactory().Type(): contrib + "exporter/prometheusexporter v0.165.1",
	}

	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}
