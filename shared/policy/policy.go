// Package policy is the screen-share policy both the server and the agent
// enforce: its keys, defaults and the mode rules.
package policy

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tetherdesk/tether/shared/protocol"
)

// ScreenShare is the screen-share part of the policy document, under the
// key "screenshare". Absent keys take the defaults of Default.
type ScreenShare struct {
	// AcceptanceRequired: attended sessions ask the user; when false the
	// session connects without a prompt even when the technician asked for
	// an attended one.
	AcceptanceRequired bool `json:"acceptance_required"`
	// AcceptanceTimeoutS: seconds the prompt waits; then the session ends
	// acceptance_timeout.
	AcceptanceTimeoutS int `json:"acceptance_timeout_s"`
	// UnattendedAllowed: whether sessions without asking may be started at
	// all (the technician also needs the unattended permission).
	UnattendedAllowed bool `json:"unattended_allowed"`
	// Modes enabled, any order; precedence is protocol.Modes.
	Modes []protocol.Mode `json:"modes"`
	// UserMayEnd: the end user may end a live session.
	UserMayEnd bool `json:"user_may_end"`
	// ClipboardSync and FileTransfer features, FileMaxBytes its size limit.
	ClipboardSync bool  `json:"clipboard_sync"`
	FileTransfer  bool  `json:"file_transfer"`
	FileMaxBytes  int64 `json:"file_max_bytes"`
	// OutageLimitS: seconds a session rides out a lost connection to the
	// server (the agent dials again meanwhile); then it ends
	// connection_lost.
	OutageLimitS int `json:"outage_limit_s"`
	// RecordSessions: sessions are recorded (the end user is told on the
	// prompt and the session bar); the server keeps each recording for
	// RecordingRetentionDays.
	RecordSessions         bool `json:"record_sessions"`
	RecordingRetentionDays int  `json:"recording_retention_days"`
	// ToolsAcceptanceRequired: opening a support tool (terminal,
	// processes, services, files) asks the end user first, as an attended
	// session does. ToolsWithoutUser: tools may open when nobody is
	// logged on (then nobody can be asked).
	ToolsAcceptanceRequired bool `json:"tools_acceptance_required"`
	ToolsWithoutUser        bool `json:"tools_without_user"`
}

// Default is the policy of a new installation: safe by default, so
// unattended access is off until an administrator allows it.
func Default() ScreenShare {
	return ScreenShare{
		AcceptanceRequired: true,
		AcceptanceTimeoutS: 30,
		UnattendedAllowed:  false,
		Modes:              slices.Clone(protocol.Modes),
		UserMayEnd:         true,
		ClipboardSync:      true,
		FileTransfer:       true,
		FileMaxBytes:       2 << 30,
		OutageLimitS:       60,
		// Off by default: recording is an administrator's decision.
		RecordSessions:         false,
		RecordingRetentionDays: 30,
		// A shell on somebody's computer is asked for, like a screen.
		ToolsAcceptanceRequired: true,
		ToolsWithoutUser:        false,
	}
}

// FromDoc reads the screen-share policy out of a policy document (the
// merged JSON object delivered on poll). Missing keys keep their defaults.
func FromDoc(doc json.RawMessage) (ScreenShare, error) {
	p := Default()
	if len(doc) == 0 {
		return p, nil
	}
	var top struct {
		ScreenShare json.RawMessage `json:"screenshare"`
	}
	if err := json.Unmarshal(doc, &top); err != nil {
		return p, fmt.Errorf("decode policy: %w", err)
	}
	if len(top.ScreenShare) > 0 {
		if err := json.Unmarshal(top.ScreenShare, &p); err != nil {
			return Default(), fmt.Errorf("decode screenshare policy: %w", err)
		}
	}
	if _, err := UpdateFromDoc(doc); err != nil {
		return p, err
	}
	return p, p.Check()
}

// Check validates the values.
func (p ScreenShare) Check() error {
	if p.AcceptanceTimeoutS < 5 || p.AcceptanceTimeoutS > 600 {
		return fmt.Errorf("acceptance_timeout_s %d: must be between 5 and 600", p.AcceptanceTimeoutS)
	}
	for _, m := range p.Modes {
		if !slices.Contains(protocol.Modes, m) {
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	if len(p.Modes) == 0 {
		return fmt.Errorf("at least one mode must be enabled")
	}
	if p.FileMaxBytes < 0 {
		return fmt.Errorf("file_max_bytes must not be negative")
	}
	if p.OutageLimitS < 10 || p.OutageLimitS > 600 {
		return fmt.Errorf("outage_limit_s %d: must be between 10 and 600", p.OutageLimitS)
	}
	if p.RecordingRetentionDays < 1 || p.RecordingRetentionDays > 3650 {
		return fmt.Errorf("recording_retention_days %d: must be between 1 and 3650", p.RecordingRetentionDays)
	}
	return nil
}

// Enabled lists the enabled modes in order of precedence.
func (p ScreenShare) Enabled() []protocol.Mode {
	var out []protocol.Mode
	for _, m := range protocol.Modes {
		if slices.Contains(p.Modes, m) {
			out = append(out, m)
		}
	}
	return out
}

// StartMode picks the mode a session starts in: the requested one when
// enabled, otherwise the first enabled mode. An unknown or disabled request
// is an error, so the technician learns why.
func (p ScreenShare) StartMode(requested protocol.Mode) (protocol.Mode, error) {
	en := p.Enabled()
	if len(en) == 0 {
		return "", fmt.Errorf("no mode is enabled by policy")
	}
	if requested == "" {
		return en[0], nil
	}
	if !slices.Contains(en, requested) {
		return "", fmt.Errorf("mode %q is not enabled by policy", requested)
	}
	return requested, nil
}
