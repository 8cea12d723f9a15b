package terminal

// Windows' pseudo console (ConPTY): the shell's console is a pair of
// pipes the agent reads and writes, and the console translates to and
// from VT sequences, which xterm.js draws. The shell and what it starts
// share a job object, so Close ends them all.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

const defaultShell = `C:\Windows\System32\cmd.exe`

// loginShell is the shell COMSPEC names.
func loginShell() string { return os.Getenv("ComSpec") }

type conPTY struct {
	hpc      windows.Handle
	in       *os.File // our end of the console's input
	out      *os.File // our end of the console's output
	proc     windows.Handle
	job      windows.Handle
	hpcOnce  sync.Once
	killOnce sync.Once
}

func startPTY(cfg Config) (pty, error) {
	var inR, inW, outR, outW windows.Handle
	if err := windows.CreatePipe(&inR, &inW, nil, 0); err != nil {
		return nil, fmt.Errorf("console input pipe: %w", err)
	}
	if err := windows.CreatePipe(&outR, &outW, nil, 0); err != nil {
		windows.CloseHandle(inR)
		windows.CloseHandle(inW)
		return nil, fmt.Errorf("console output pipe: %w", err)
	}
	p := &conPTY{in: os.NewFile(uintptr(inW), "conpty-in"), out: os.NewFile(uintptr(outR), "conpty-out")}
	fail := func(err error) (pty, error) {
		windows.CloseHandle(inR)
		windows.CloseHandle(outW)
		p.release()
		return nil, err
	}
	size := windows.Coord{X: int16(cfg.Cols), Y: int16(cfg.Rows)}
	if err := windows.CreatePseudoConsole(size, inR, outW, 0, &p.hpc); err != nil {
		return fail(fmt.Errorf("CreatePseudoConsole: %w", err))
	}
	// The console holds its own copies now.
	windows.CloseHandle(inR)
	windows.CloseHandle(outW)
	inR, outW = 0, 0

	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		return fail(err)
	}
	defer attrs.Delete()
	// The attribute's value is the console handle itself, not a pointer
	// to it.
	if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, *(*unsafe.Pointer)(unsafe.Pointer(&p.hpc)), unsafe.Sizeof(p.hpc)); err != nil {
		return fail(fmt.Errorf("attaching the pseudo console: %w", err))
	}
	// No handles are inherited (CreateProcess below): the shell's standard
	// handles are the pseudo console's, not the service's.
	si := &windows.StartupInfoEx{ProcThreadAttributeList: attrs.List()}
	si.Cb = uint32(unsafe.Sizeof(*si))
	cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(cfg.Shell))
	if err != nil {
		return fail(err)
	}
	env, err := envBlock(cfg.Env)
	if err != nil {
		return fail(err)
	}
	dir, err := windows.UTF16PtrFromString(cfg.Dir)
	if err != nil {
		return fail(err)
	}
	if p.job, err = windows.CreateJobObject(nil, nil); err != nil {
		return fail(fmt.Errorf("job object: %w", err))
	}
	limit := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE}}
	if _, err := windows.SetInformationJobObject(p.job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&limit)), uint32(unsafe.Sizeof(limit))); err != nil {
		return fail(fmt.Errorf("job object limits: %w", err))
	}
	var pi windows.ProcessInformation
	flags := uint32(windows.EXTENDED_STARTUPINFO_PRESENT | windows.CREATE_UNICODE_ENVIRONMENT | windows.CREATE_SUSPENDED)
	if err := windows.CreateProcess(nil, cmdLine, nil, nil, false, flags, &env[0], dir, &si.StartupInfo, &pi); err != nil {
		return fail(fmt.Errorf("CreateProcess: %w", err))
	}
	p.proc = pi.Process
	// In the job before it runs: nothing it starts escapes Close.
	if err := windows.AssignProcessToJobObject(p.job, pi.Process); err != nil {
		windows.TerminateProcess(pi.Process, 1)
		windows.CloseHandle(pi.Thread)
		return fail(fmt.Errorf("job object: %w", err))
	}
	windows.ResumeThread(pi.Thread)
	windows.CloseHandle(pi.Thread)
	return p, nil
}

func (p *conPTY) Read(b []byte) (int, error) {
	n, err := p.out.Read(b)
	if err != nil && n == 0 {
		return 0, io.EOF // the console closed (ERROR_BROKEN_PIPE)
	}
	return n, nil
}

func (p *conPTY) Write(b []byte) (int, error) { return p.in.Write(b) }

func (p *conPTY) resize(cols, rows int) error {
	return windows.ResizePseudoConsole(p.hpc, windows.Coord{X: int16(cols), Y: int16(rows)})
}

// wait waits for the shell; then the console closes, which ends the
// output pipe (a Read then gets EOF once the rest is read).
func (p *conPTY) wait() (int, error) {
	if _, err := windows.WaitForSingleObject(p.proc, windows.INFINITE); err != nil {
		return -1, err
	}
	var code uint32
	err := windows.GetExitCodeProcess(p.proc, &code)
	windows.CloseHandle(p.proc)
	p.closeConsole()
	if err != nil {
		return -1, err
	}
	return int(code), nil
}

func (p *conPTY) closeConsole() {
	p.hpcOnce.Do(func() {
		if p.hpc != 0 {
			windows.ClosePseudoConsole(p.hpc)
		}
	})
}

// kill ends the shell and everything in its job, and releases the
// console and its pipes.
func (p *conPTY) kill() error {
	var err error
	p.killOnce.Do(func() {
		err = windows.TerminateJobObject(p.job, 1)
		p.closeConsole()
		p.in.Close()
		p.out.Close()
		windows.CloseHandle(p.job)
	})
	return err
}

// release frees what a failed start made.
func (p *conPTY) release() {
	p.closeConsole()
	p.in.Close()
	p.out.Close()
	if p.job != 0 {
		windows.CloseHandle(p.job)
	}
}

// envBlock encodes env for CreateProcess with CREATE_UNICODE_ENVIRONMENT.
func envBlock(env []string) ([]uint16, error) {
	var b []uint16
	for _, kv := range env {
		u, err := windows.UTF16FromString(kv)
		if err != nil {
			return nil, errors.New("terminal: an environment entry holds a NUL")
		}
		b = append(b, u...)
	}
	if len(b) == 0 {
		b = append(b, 0)
	}
	return append(b, 0), nil
}
