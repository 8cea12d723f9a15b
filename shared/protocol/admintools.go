package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The processes and services tools (added 2026-12-05) share one channel:
// requests from the viewer and one response to each, as JSON text
// messages matched by ID. The tool's session decides which operations
// are open: a processes session lists and ends processes, a services
// session lists, starts, stops and restarts services.
const (
	ToolProcesses = "processes"
	ToolServices  = "services"
	// ToolFiles browses the endpoint's files as the desktop's user
	// (through its helper), ToolFilesSystem as the system (through the
	// service): listings, renames and deletes on this channel, downloads
	// and uploads on the file channel (FileMsg, as in a screen share:
	// resumable, checked by SHA-256). Changes need ScreenShareStart.Write.
	// ("files" alone was the system's before ToolFiles ran as the user:
	// a new name, so that an agent of that time refuses it rather than
	// opening the system's files.)
	ToolFiles       = "files.user"
	ToolFilesSystem = "files.system"

	ChannelAdmin          = "admin"
	ChannelAdminID uint16 = 7
)

// Admin channel operations.
const (
	AdminListProcesses = "processes.list" // → Processes
	AdminEndProcess    = "processes.end"  // PID (and Started, to end that process only)
	AdminListServices  = "services.list"  // → Services
	AdminStartService  = "services.start" // Service
	AdminStopService   = "services.stop"
	AdminRestart       = "services.restart"
	AdminFileRoots     = "files.roots"     // → Roots
	AdminListFiles     = "files.list"      // Path → Path, Entries
	AdminDownload      = "files.download"  // Path: offered on the file channel
	AdminUploadTo      = "files.upload_to" // Path: where offers on the file channel go
	AdminDeleteFile    = "files.delete"    // Path (a file, a link or an empty directory)
	AdminRenameFile    = "files.rename"    // Path, Name (a new name in the same directory)
)

// MaxPath bounds a path in an admin request.
const MaxPath = 4096

// MaxAdminRequest bounds a request message.
const MaxAdminRequest = 4 << 10

// AdminRequest is a viewer's request on the admin channel.
type AdminRequest struct {
	ID  uint32 `json:"id"`
	Op  string `json:"op"`
	PID int32  `json:"pid,omitempty"`
	// Started is the process's start (ms since 1970) as listed: a process
	// id reused since then by another process is not ended.
	Started int64  `json:"started,omitempty"`
	Service string `json:"service,omitempty"`
	Path    string `json:"path,omitempty"`
	Name    string `json:"name,omitempty"`
}

// AdminResponse answers one request.
type AdminResponse struct {
	ID        uint32        `json:"id"`
	Error     string        `json:"error,omitempty"`
	Processes []ProcessInfo `json:"processes,omitempty"`
	Services  []ServiceInfo `json:"services,omitempty"`
	// Taken is when a listing was made.
	Taken time.Time `json:"taken,omitzero"`
	// Cut: the listing did not fit one message; command lines were
	// shortened, or the list itself.
	Cut bool `json:"cut,omitempty"`
	// Files: the roots (/, or the drives), a listed directory's path
	// (cleaned) and its entries; Write says whether changes are allowed.
	Roots   []string    `json:"roots,omitempty"`
	Path    string      `json:"path,omitempty"`
	Entries []FileEntry `json:"entries,omitempty"`
	Write   bool        `json:"write,omitempty"`
}

// FileEntry is one entry of a listed directory.
type FileEntry struct {
	Name     string `json:"name"`
	Dir      bool   `json:"dir,omitempty"`
	Size     int64  `json:"size"`
	Mode     string `json:"mode"`     // as ls shows it
	Modified int64  `json:"modified"` // ms since 1970
	// Link is a symbolic link's target: links are shown, never followed.
	Link string `json:"link,omitempty"`
}

// ProcessInfo is one process as the processes tool lists it.
type ProcessInfo struct {
	PID     int32  `json:"pid"`
	PPID    int32  `json:"ppid"`
	User    string `json:"user"`
	Name    string `json:"name"`
	Command string `json:"command"` // the command line, cut to MaxCommandLine
	// CPU is the share of one core used since the previous listing (or
	// over the process's life, in the first), in percent.
	CPU     float64 `json:"cpu"`
	RSS     uint64  `json:"rss"`     // resident memory, bytes
	Started int64   `json:"started"` // ms since 1970
}

// MaxCommandLine bounds a listed command line.
const MaxCommandLine = 4 << 10

// ServiceInfo is one service (a systemd unit, a Windows service).
type ServiceInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// State is the service's run state: active, inactive, failed,
	// activating, deactivating (systemd) or running, stopped,
	// start_pending... (Windows).
	State string `json:"state"`
	// Sub is systemd's sub-state (running, exited, dead...); Startup is
	// how it starts (enabled, disabled, static / auto, manual,
	// disabled).
	Sub     string `json:"sub,omitempty"`
	Startup string `json:"startup,omitempty"`
}

// ToolAction is one change a support tool made, as the audit log keeps
// it: the operation (AdminEndProcess...), what it acted on ("4242 sleep",
// "cups.service"), the viewer that asked, and the error if it failed.
type ToolAction struct {
	Op     string `json:"op"`
	Target string `json:"target"`
	Viewer string `json:"viewer,omitempty"`
	Error  string `json:"error,omitempty"`
}

// DecodeAdminRequest reads and checks one request. A service name is a
// unit's or service's name, never a path or an option. A request that
// parsed but is refused comes back with its ID alone.
func DecodeAdminRequest(b []byte) (AdminRequest, error) {
	var r AdminRequest
	if len(b) > MaxAdminRequest {
		return r, errors.New("admin request too long")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return AdminRequest{}, fmt.Errorf("malformed admin request: %w", err)
	}
	if dec.More() {
		return AdminRequest{}, errors.New("malformed admin request: trailing data")
	}
	// A refused request is answered with its id, so the viewer's
	// request ends with the reason.
	refuse := AdminRequest{ID: r.ID}
	switch r.Op {
	case AdminListProcesses, AdminListServices:
	case AdminEndProcess:
		if r.PID <= 0 {
			return refuse, fmt.Errorf("%s: pid %d", r.Op, r.PID)
		}
	case AdminStartService, AdminStopService, AdminRestart:
		if err := CheckServiceName(r.Service); err != nil {
			return refuse, fmt.Errorf("%s: %w", r.Op, err)
		}
	case AdminFileRoots:
	case AdminListFiles, AdminDownload, AdminUploadTo, AdminDeleteFile, AdminRenameFile:
		if r.Path == "" || len(r.Path) > MaxPath || !utf8.ValidString(r.Path) || strings.ContainsRune(r.Path, 0) {
			return refuse, fmt.Errorf("%s: a path of 1-%d bytes of UTF-8 is required", r.Op, MaxPath)
		}
		if r.Op == AdminRenameFile && (r.Name == "" || len(r.Name) > MaxFileName || !utf8.ValidString(r.Name)) {
			return refuse, fmt.Errorf("%s: a new name of 1-%d bytes is required", r.Op, MaxFileName)
		}
	default:
		return refuse, fmt.Errorf("unknown admin operation %q", r.Op)
	}
	return r, nil
}

// CheckServiceName accepts a systemd unit's or a Windows service's name:
// 1-256 bytes of UTF-8 without control characters, slashes or a leading
// dash.
func CheckServiceName(s string) error {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) || strings.HasPrefix(s, "-") || strings.ContainsAny(s, "/\\") {
		return fmt.Errorf("service name %q is not one", s)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("service name %q has a control character", s)
		}
	}
	return nil
}
