package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux platform Go
// supports.
const clockTicks = 100

// ProcCPU returns the user+system CPU time a process has used, from /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; fields after it are
	// space separated: state is field 3, utime 14, stime 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// SelfCPU returns the CPU time (user+system) this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPressure returns the machine's cumulative CPU stall time from /proc/pressure/cpu: the
// time during which at least one runnable task waited for a CPU (Linux PSI "some").
func cpuPressure() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	_, v, ok := strings.Cut(line, "total=")
	if !ok {
		return 0, false
	}
	us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return time.Duration(us) * time.Microsecond, err == nil
}

// CPUMeter measures the CPU time used by a set of processes (and this one, as "load
// generator") between Start and Stop, and the machine's CPU pressure meanwhile.
type CPUMeter struct {
	pids  map[string]int
	names []string
	start map[string]time.Duration
	t0    time.Time
	psi0  time.Duration
	psiOK bool
	Stall float64 // after Stop: share of the interval some task waited for a CPU (PSI), or -1
}

// NewCPUMeter watches the named pids; the benchmark process itself is always included under
// the name "load generator".
func NewCPUMeter(procs map[string]int) *CPUMeter {
	m := &CPUMeter{pids: map[string]int{}, start: map[string]time.Duration{}}
	for name, pid := range procs {
		if pid > 0 {
			m.pids[name] = pid
			m.names = append(m.names, name)
		}
	}
	slices.Sort(m.names)
	m.names = append([]string{"load generator"}, m.names...)
	return m
}

func (m *CPUMeter) read(name string) time.Duration {
	if name == "load generator" {
		return SelfCPU()
	}
	d, _ := ProcCPU(m.pids[name])
	return d
}

// Start records the starting point.
func (m *CPUMeter) Start() {
	m.t0 = time.Now()
	for _, n := range m.names {
		m.start[n] = m.read(n)
	}
	m.psi0, m.psiOK = cpuPressure()
}

// CPUUse is one process's CPU use over a measured interval, in cores (CPU seconds per
// second of wall time).
type CPUUse struct {
	Name  string
	Cores float64
}

// Stop returns each process's CPU use since Start, the load generator first.
func (m *CPUMeter) Stop() []CPUUse {
	wall := time.Since(m.t0).Seconds()
	m.Stall = -1
	if psi, ok := cpuPressure(); ok && m.psiOK {
		m.Stall = (psi - m.psi0).Seconds() / wall
	}
	out := make([]CPUUse, 0, len(m.names)+1)
	for _, n := range m.names {
		out = append(out, CPUUse{Name: n, Cores: (m.read(n) - m.start[n]).Seconds() / wall})
	}
	if m.Stall >= 0 {
		out = append(out, CPUUse{Name: "machine CPU pressure", Cores: m.Stall})
	}
	return out
}

// FormatCPU renders CPU uses as "gateway 1.21, broker 0.40, … (total 1.61); CPU pressure
// 12 %".
func FormatCPU(uses []CPUUse) string {
	parts := make([]string, 0, len(uses))
	total := 0.0
	pressure := ""
	for _, u := range uses {
		if u.Name == "machine CPU pressure" {
			pressure = fmt.Sprintf("; stall %.0f %%", 100*u.Cores)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", u.Name, u.Cores))
		total += u.Cores
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" (total %.2f)", total) + pressure
}
