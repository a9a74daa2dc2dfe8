// Package otlpwire writes OTLP trace data in protobuf's wire format, piece by piece, for a
// writer that knows which bytes stay the same from span to span: kretspan encodes a probe's
// name, kind and attributes once, and per call writes only the ids, times and per-call values
// (see otelbridge). Going through protobuf-go's structs and its table-driven walk cost ten times
// as much per span.
//
// The pieces write what protobuf-go's deterministic Marshal writes for the same message, field
// by field, so that any OTLP receiver reads them; otelbridge's tests hold the whole span to that
// byte for byte.
package otlpwire
