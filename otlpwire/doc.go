// Package otlpwire encodes OTLP trace export requests (ExportTraceServiceRequest) to the
// protobuf wire format, by hand, straight from the generated structs: protobuf-go's table-driven,
// reflective walk was most of kretspan's user-space CPU. The bytes are those of protobuf-go's
// deterministic Marshal, so any OTLP receiver reads them.
//
// The encoder knows nothing of transports: [Size] sizes a request and [Append] writes it into a
// byte slice, which a gRPC codec hands to gRPC and an OTLP/HTTP exporter would send as the
// request body. Limits on a request's size are the transport's, and enforced there.
//
// Every field of the OTLP messages a request holds is encoded; unknown fields, which only a
// message decoded from the wire carries, are not.
package otlpwire
