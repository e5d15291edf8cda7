package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Member is one started part of the stack: a child process, or a ClickHouse server that
// internal/dev/clickhouseserver runs.
type Member interface {
	Name() string
	Done() <-chan struct{}
	Err() error
	Stop(ctx context.Context) error
}

// Starter starts a member that is not a plain process (ClickHouse). It is called in stack
// order, like processes.
type Starter struct {
	Name  string
	Start func(ctx context.Context) (Member, error)
}

// Step is one entry in start order: a Proc or a Starter.
type Step struct {
	Proc    *Proc
	Starter *Starter
}

// Stack runs steps in order and supervises them.
type Stack struct {
	Out   io.Writer
	Steps []Step
	// ReadyTimeout bounds each step's readiness wait. Default 90 s (a cold ClickHouse on a
	// slow disk takes a while).
	ReadyTimeout time.Duration
	// StopTimeout bounds the whole shutdown. Default 9 s: make run promises 10.
	StopTimeout time.Duration
	// OnReady is called once every step is ready (the banner).
	OnReady func()
}

// ErrMemberDied is wrapped by the error Run returns when a member exited on its own.
var ErrMemberDied = errors.New("a part of the stack stopped")

type procMember struct{ r *running }

func (p procMember) Name() string          { return p.r.proc.Name }
func (p procMember) Done() <-chan struct{} { return p.r.done }
func (p procMember) Err() error            { return p.r.err }
func (p procMember) Stop(ctx context.Context) error {
	p.r.signal(syscall.SIGTERM)
	select {
	case <-p.r.done:
		return nil
	case <-ctx.Done():
		p.r.signal(syscall.SIGKILL)
		<-p.r.done
		return fmt.Errorf("%s did not stop in time and was killed", p.r.proc.Name)
	}
}

// Run starts every step, then waits for ctx to end or a member to die, then stops all.
func (s *Stack) Run(ctx context.Context) error {
	if s.Out == nil {
		s.Out = os.Stdout
	}
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = 90 * time.Second
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 9 * time.Second
	}
	out := &output{w: s.Out}
	env := os.Environ()
	var members []Member
	died := make(chan Member, len(s.Steps))
	watch := func(m Member) {
		go func() {
			<-m.Done()
			died <- m
		}()
	}

	var runErr error
	for i, st := range s.Steps {
		if ctx.Err() != nil {
			break
		}
		var m Member
		switch {
		case st.Proc != nil:
			r, err := start(*st.Proc, env, out, i)
			if err != nil {
				runErr = err
				break
			}
			m = procMember{r}
			members = append(members, m)
			if err := waitReady(ctx, r, s.ReadyTimeout); err != nil {
				runErr = err
			}
		case st.Starter != nil:
			out.printf("devstack", 5, "starting %s", st.Starter.Name)
			mm, err := st.Starter.Start(ctx)
			if err != nil {
				runErr = fmt.Errorf("starting %s: %w", st.Starter.Name, err)
				break
			}
			m = mm
			members = append(members, m)
		}
		if runErr != nil {
			break
		}
		watch(m)
	}

	if runErr == nil && ctx.Err() == nil {
		if s.OnReady != nil {
			s.OnReady()
		}
		select {
		case <-ctx.Done():
			out.printf("devstack", 5, "stopping (%v)", context.Cause(ctx))
		case m := <-died:
			runErr = fmt.Errorf("%w: %s exited unexpectedly: %v", ErrMemberDied, m.Name(), exitText(m.Err()))
		}
	}
	if runErr != nil {
		out.printf("devstack", 5, "\x1b[1;31m%v\x1b[0m — stopping everything else", runErr)
	}

	sctx, cancel := context.WithTimeout(context.Background(), s.StopTimeout)
	defer cancel()
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		select {
		case <-m.Done():
			continue
		default:
		}
		if err := m.Stop(sctx); err != nil {
			out.printf("devstack", 5, "%v", err)
		}
	}
	out.printf("devstack", 5, "stopped")
	return runErr
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
