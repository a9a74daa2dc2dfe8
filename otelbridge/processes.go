package otelbridge

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/otlpwire"
	"github.com/kretspan/kretspan/processinfo"
)

// ProcessSource reads the processes whose calls become spans; package processinfo reads them
// from /proc. Read is called once per process, at its first record; StartTicks by the sweep
// that finds which processes have exited, once per cached process per ProcessSweepInterval; and
// Sweep once per ProcessSweepInterval, for the source to drop what it keeps for processes not
// read yet.
type ProcessSource interface {
	Read(pid uint32) (processinfo.Process, error) // processinfo.ErrGone for a process that has exited
	StartTicks(pid uint32) (uint64, error)
	Sweep()
}

// ProcessSweepInterval is how often the cache of processes looks for those that exited.
const ProcessSweepInterval = time.Second

// processAttributes are the resource attributes of a process besides service.name, in the order
// resources carry them; an empty value is left out.
var processAttributes = []struct {
	key   attribute.Key
	value func(p *processinfo.Process) attribute.Value
}{
	{semconv.ProcessPIDKey, func(p *processinfo.Process) attribute.Value { return attribute.Int64Value(int64(p.PID)) }},
	{semconv.ProcessParentPIDKey, func(p *processinfo.Process) attribute.Value { return intOrNothing(p.ParentPID) }},
	{semconv.ProcessExecutableNameKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.ExecutableName) }},
	{semconv.ProcessExecutablePathKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.ExecutablePath) }},
	{semconv.ProcessOwnerKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.Owner) }},
	{semconv.ProcessCommandLineKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.CommandLine) }},
	{semconv.ProcessRuntimeNameKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.RuntimeName) }},
	{semconv.ContainerIDKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.ContainerID) }},
	{semconv.K8SPodUIDKey, func(p *processinfo.Process) attribute.Value { return attribute.StringValue(p.PodUID) }},
}

// intOrNothing leaves out a parent pid of 0 (the kernel's own threads have none).
func intOrNothing(n uint32) attribute.Value {
	if n == 0 {
		return attribute.Value{}
	}
	return attribute.Int64Value(int64(n))
}

// ProcessServiceName is the service.name of a process's spans when the user names none for every
// span: the one its environment names, else its executable's name (the command name where it
// has no executable, or where the process had exited before it could be read and left no exec
// record).
func ProcessServiceName(p *processinfo.Process) string {
	switch {
	case p.ServiceName != "":
		return p.ServiceName
	case p.ExecutableName != "":
		return p.ExecutableName
	}
	return p.Comm
}

// processEntry is a cached process: its resource, encoded once, and where its spans are.
type processEntry struct {
	pid        uint32
	startTicks uint64 // with pid, the key: 0 for a process known only from its span record
	resource   []byte // the ResourceSpans' resource field
	service    *serviceSpans
	// The last batch with a segment of this process's spans (by its fill number), and which
	// segment it is there.
	fill    uint64
	segment int32
	exited  bool // a sweep found it gone; the next one drops it
}

// processCache maps the pids of records to their processes' resources. Without a source, every
// record gets one resource, the host's.
type processCache struct {
	source      ProcessSource
	fixedName   bool                 // the user named the service: it holds for every process
	host        []*commonpb.KeyValue // what every resource says
	hostService string               // its service.name
	hostEntry   *processEntry
	byPID       map[uint32]*processEntry
	recent      [recentProcesses]*processEntry // direct-mapped by pid: records come in runs
	lastSweep   time.Time
	sweepEvery  time.Duration
	services    *serviceTable
	read, count atomic.Uint64 // processes read, and cached now
}

const recentProcesses = 256

func newProcessCache(host *resourcepb.Resource, source ProcessSource, fixedName bool, services *serviceTable) (*processCache, error) {
	c := &processCache{source: source, fixedName: fixedName, host: host.GetAttributes(), byPID: map[uint32]*processEntry{},
		sweepEvery: ProcessSweepInterval, services: services}
	for _, kv := range c.host {
		if kv.Key == string(semconv.ServiceNameKey) {
			c.hostService = kv.Value.GetStringValue()
		}
	}
	resource, err := encodeResource(c.host)
	if err != nil {
		return nil, err
	}
	c.hostEntry = &processEntry{resource: resource, service: services.get(c.hostService)}
	return c, nil
}

func encodeResource(attributes []*commonpb.KeyValue) ([]byte, error) {
	encoded, err := proto.MarshalOptions{Deterministic: true}.Marshal(&resourcepb.Resource{Attributes: attributes})
	if err != nil {
		return nil, fmt.Errorf("encode the resource: %w", err)
	}
	return otlpwire.AppendBytes(nil, otlpwire.ResourceSpansResource, encoded), nil
}

// lookup is the process of event, read at the first record of its pid.
func (c *processCache) lookup(event *bpf.Event) *processEntry {
	if c.source == nil {
		return c.hostEntry
	}
	slot := &c.recent[event.Pid%recentProcesses]
	if e := *slot; e != nil && e.pid == event.Pid {
		return e
	}
	e, ok := c.byPID[event.Pid]
	if !ok {
		e = c.readProcess(event)
		c.byPID[event.Pid] = e
		c.count.Store(uint64(len(c.byPID)))
	}
	*slot = e
	return e
}

// readProcess reads event's process. One that exited before it could be read (within
// microseconds of its call, or while the ring was behind) is what its exec record said, through
// the source; without one, it is described by its span record alone: its pid, and its command
// name as service.name.
func (c *processCache) readProcess(event *bpf.Event) *processEntry {
	c.read.Add(1)
	p, err := c.source.Read(event.Pid)
	e := &processEntry{pid: event.Pid, startTicks: p.StartTicks}
	if err != nil {
		n := 0
		for n < len(event.Comm) && event.Comm[n] != 0 {
			n++
		}
		p = processinfo.Process{PID: event.Pid, Comm: string(event.Comm[:n])}
	}
	e.resource, e.service = c.processResource(&p)
	return e
}

// processResource is p's resource field and its service's counts. A resource that cannot be
// encoded (never: every value is valid UTF-8) falls back to the host's.
func (c *processCache) processResource(p *processinfo.Process) ([]byte, *serviceSpans) {
	service := c.hostService
	if !c.fixedName {
		service = ProcessServiceName(p)
	}
	own := []*commonpb.KeyValue{keyValue(semconv.ServiceName(service))}
	for _, a := range processAttributes {
		if v := a.value(p); v.Type() != attribute.EMPTY && (v.Type() != attribute.STRING || v.AsString() != "") {
			own = append(own, keyValue(attribute.KeyValue{Key: a.key, Value: v}))
		}
	}
	attributes := make([]*commonpb.KeyValue, 0, len(c.host)+len(own))
	for _, kv := range c.host {
		if !containsKey(own, kv.Key) {
			attributes = append(attributes, kv)
		}
	}
	attributes = append(attributes, own...)
	resource, err := encodeResource(attributes)
	if err != nil {
		return c.hostEntry.resource, c.hostEntry.service
	}
	return resource, c.services.get(service)
}

func containsKey(kvs []*commonpb.KeyValue, key string) bool {
	for _, kv := range kvs {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// sweep drops the processes that have exited and have no spans in a batch still to export (one
// filled after the exported one, the batch being filled included). A process found gone is kept
// one sweep more, for its last records still in the ring; one whose pid now names another
// process (another start time) is dropped at once, so the new process is read at its next record.
func (c *processCache) sweep(now time.Time, exported uint64) {
	if c.source == nil || now.Sub(c.lastSweep) < c.sweepEvery {
		return
	}
	c.lastSweep = now
	c.source.Sweep()
	for pid, e := range c.byPID {
		start, err := c.source.StartTicks(pid)
		switch {
		case err == nil && start == e.startTicks && !e.exited:
		case err == nil && start != e.startTicks:
			c.remove(pid)
		case !e.exited:
			e.exited = true
		case e.fill <= exported:
			c.remove(pid)
		}
	}
	c.count.Store(uint64(len(c.byPID)))
}

func (c *processCache) remove(pid uint32) {
	delete(c.byPID, pid)
	if slot := &c.recent[pid%recentProcesses]; *slot != nil && (*slot).pid == pid {
		*slot = nil
	}
}

// ServiceSpans counts one service's spans.
type ServiceSpans = summary.ServiceSpans

// serviceSpans is a service's counts, guarded by its table's lock.
type serviceSpans struct{ ServiceSpans }

// serviceTable counts spans by service. Past maxServices names, the counts go to OtherServices.
type serviceTable struct {
	mu     sync.Mutex
	byName map[string]*serviceSpans
}

// maxServices bounds the services counted by name: a node may run many.
const maxServices = 1000

// OtherServices counts the spans of the services past the first maxServices.
const OtherServices = "(other services)"

func newServiceTable() *serviceTable { return &serviceTable{byName: map[string]*serviceSpans{}} }

func (t *serviceTable) get(name string) *serviceSpans {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.byName[name]; ok {
		return s
	}
	if len(t.byName) >= maxServices {
		name = OtherServices
		if s, ok := t.byName[name]; ok {
			return s
		}
	}
	s := &serviceSpans{ServiceSpans{Service: name}}
	t.byName[name] = s
	return s
}

// account adds a batch's segments to their services' counts.
func (t *serviceTable) account(segments []segment, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range segments {
		if s := &segments[i]; failed {
			s.service.ExportFailed += uint64(s.n)
		} else {
			s.service.Exported += uint64(s.n)
		}
	}
}

// snapshot is the counts of every service with spans, busiest first.
func (t *serviceTable) snapshot() []ServiceSpans {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ServiceSpans
	for _, s := range t.byName {
		if s.Exported+s.ExportFailed > 0 {
			out = append(out, s.ServiceSpans)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Exported+a.ExportFailed != b.Exported+b.ExportFailed {
			return a.Exported+a.ExportFailed > b.Exported+b.ExportFailed
		}
		return a.Service < b.Service
	})
	return out
}
