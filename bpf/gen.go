// Package bpf holds kretspan's kernel side: the eBPF programs that time entry→return of probed
// functions, and the Go code that loads them, attaches them and reads their records.
package bpf

//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type event -type event_flag -type counter -type limit -type probe_counters -type probe_config -type binding -type arg_values_header -type arg_value -type arg_source -type arg_read -type arg_status -type arg_file_kind kretspan kretspan.bpf.c -- -I./include -Wall -Werror -O2 -g
