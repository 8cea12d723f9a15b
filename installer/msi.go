package installer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"text/template"
)

// UpgradeCode identifies the agent's MSI across versions: MajorUpgrade
// replaces an installed one of the same code. It never changes.
const UpgradeCode = "6F1D6C38-2B4E-4E73-9C0B-7C1E5A3F2D10"

// MSI describes the Windows agent's installer.
type MSI struct {
	Version string // as `git describe --tags` printed it
	Binary  string // tether-agent.exe
	// Properties preset in the package (SERVER_URL, ENROLL_TOKEN,
	// FINGERPRINT), so that it installs and enrolls with no argument; a
	// property given to msiexec overrides them.
	Properties map[string]string
}

// MSI public properties; msiexec /i tether-agent.msi /qn SERVER_URL=…
const (
	PropServer      = "SERVER_URL"
	PropToken       = "ENROLL_TOKEN"
	PropFingerprint = "FINGERPRINT"
)

// FileName is the installer's file name.
func (m MSI) FileName() string {
	v, r := PackageVersion(m.Version)
	return fmt.Sprintf("tether-agent-%s-%s-x64.msi", v, r)
}

// MSIVersion is the ProductVersion: MSI compares only three fields, the
// third at most 65535, so the patch and the commits since the tag share it
// (v1.2.3-4-g… is 1.2.3004) and every later build upgrades an earlier one.
func MSIVersion(describe string) string {
	b := parseDescribe(describe)
	var major, minor, patch int
	fmt.Sscanf(b.version, "%d.%d.%d", &major, &minor, &patch)
	if b.version == "0.0.0" {
		return fmt.Sprintf("0.0.%d", min(b.number, 65535))
	}
	commits := max(b.number-1, 0) // number 1 is the tag itself; 0 is before it
	return fmt.Sprintf("%d.%d.%d", min(major, 255), min(minor, 255), min(patch*1000+commits, 65535))
}

var wxs = template.Must(template.New("wxs").Parse(`<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Tether Agent" Language="1033" Version="{{.Version}}" Manufacturer="Tether" UpgradeCode="{{.UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"
      Description="Tether remote-support agent" Manufacturer="Tether" Comments="Tether agent {{.Describe}}"/>
    <Media Id="1" Cabinet="agent.cab" EmbedCab="yes"/>
    <MajorUpgrade DowngradeErrorMessage="A newer Tether Agent is already installed."/>
    <Property Id="ARPNOMODIFY" Value="1"/>
    <!-- wixl knows no Secure or Hidden attributes: the Property table says
         the same (Stamp adds the three to SecureCustomProperties). -->
    <Property Id="MsiHiddenProperties" Value="ENROLL_TOKEN"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Tether">
          <Component Id="Agent" Guid="*" Win64="yes">
            <File Id="AgentExe" Name="tether-agent.exe" Source="tether-agent.exe" KeyPath="yes"/>
            <ServiceInstall Id="AgentService" Name="tether-agent" DisplayName="Tether Agent"
              Description="Tether remote-support agent: enrollment, actions, inventory and session helpers."
              Type="ownProcess" Start="auto" ErrorControl="normal" Account="LocalSystem" Vital="yes"
              Arguments="service --config &quot;[CommonAppDataFolder]Tether\agent.yaml&quot; --state &quot;[CommonAppDataFolder]Tether\state&quot;"/>
            <ServiceControl Id="AgentServiceControl" Name="tether-agent" Start="install" Stop="both" Remove="uninstall" Wait="yes"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Agent" Title="Tether Agent" Level="1">
      <ComponentRef Id="Agent"/>
    </Feature>
    <!-- The properties become the agent's config (%ProgramData%\Tether\agent.yaml)
         before the service starts; an upgrade without them keeps the config.
         The paths are explicit: a service's environment need not name
         ProgramData as an administrator's does (Wine's says C:\users\Public). -->
    <CustomAction Id="WriteConfig" FileKey="AgentExe" Execute="deferred" Impersonate="no" Return="check"
      ExeCommand="install --config-only --config &quot;[CommonAppDataFolder]Tether\agent.yaml&quot; --state &quot;[CommonAppDataFolder]Tether\state&quot; --server &quot;[SERVER_URL]&quot; --token &quot;[ENROLL_TOKEN]&quot; --fingerprint &quot;[FINGERPRINT]&quot;"/>
    <InstallExecuteSequence>
      <Custom Action="WriteConfig" Sequence="5850">SERVER_URL AND NOT REMOVE</Custom>
    </InstallExecuteSequence>
  </Product>
</Wix>
`))

// Build writes the .msi to out with wixl (Debian's msitools).
func (m MSI) Build(ctx context.Context, out string) (err error) {
	if _, err := os.Stat(m.Binary); err != nil {
		return fmt.Errorf("installer: the agent's .exe: %w", err)
	}
	if err := checkProperties(m.Properties); err != nil {
		return err
	}
	var src bytes.Buffer
	err = wxs.Execute(&src, map[string]string{
		"Version":     MSIVersion(m.Version),
		"Describe":    m.Version,
		"UpgradeCode": UpgradeCode,
	})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tether-msi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// wixl reads the File's Source next to the .wxs.
	if err := copyFile(m.Binary, filepath.Join(dir, "tether-agent.exe")); err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	wxsPath := filepath.Join(dir, "agent.wxs")
	if err := os.WriteFile(wxsPath, src.Bytes(), 0o600); err != nil {
		return err
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "wixl", "-a", "x64", "-o", out, "agent.wxs")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("installer: wixl: %w\n%s", err, b)
	}
	queries := []string{"UPDATE Property SET Value='" + secureProperties + "' WHERE Property='SecureCustomProperties'"}
	return msibuild(ctx, out, append(queries, propertyQueries(m.Properties)...))
}

// secureProperties are the properties that pass from msiexec's client to
// the elevated install: wixl's own and ours.
const secureProperties = "WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;SERVER_URL;ENROLL_TOKEN;FINGERPRINT"

// Stamp presets properties in a built .msi (in place), so that it
// installs and enrolls with no argument. A property given to msiexec
// still overrides a preset one. It runs msibuild (msitools). A signature
// the MSI had no longer matches it: with signer it is signed anew, without
// the old signature is removed.
func Stamp(ctx context.Context, path string, props map[string]string, signer *Authenticode) error {
	if err := checkProperties(props); err != nil {
		return err
	}
	if err := Unsign(ctx, path); err != nil {
		return err
	}
	if err := msibuild(ctx, path, propertyQueries(props)); err != nil {
		return err
	}
	if signer != nil {
		return signer.Sign(ctx, path)
	}
	return nil
}

func checkProperties(props map[string]string) error {
	for k, v := range props {
		if k != PropServer && k != PropToken && k != PropFingerprint {
			return fmt.Errorf("installer: unknown MSI property %s", k)
		}
		if !safeProperty.MatchString(v) {
			return fmt.Errorf("installer: MSI property %s holds characters an installer property cannot carry safely", k)
		}
	}
	return nil
}

// propertyQueries set each property, in a fixed order.
func propertyQueries(props map[string]string) []string {
	var q []string
	for _, k := range []string{PropServer, PropToken, PropFingerprint} {
		if v, ok := props[k]; ok && v != "" {
			// The values passed checkProperties: no quote can end the literal.
			q = append(q, "DELETE FROM Property WHERE Property='"+k+"'",
				"INSERT INTO Property (Property, Value) VALUES ('"+k+"', '"+v+"')")
		}
	}
	return q
}

func msibuild(ctx context.Context, path string, queries []string) error {
	for _, q := range queries {
		if b, err := exec.CommandContext(ctx, "msibuild", path, "-q", q).CombinedOutput(); err != nil {
			return fmt.Errorf("installer: msibuild: %w\n%s", err, b)
		}
	}
	return nil
}

// safeProperty is what a preset property may hold: URLs, tokens and
// fingerprints, but nothing the MSI formatter ([…]) or the XML or the
// custom action's quoting would read as syntax.
var safeProperty = regexp.MustCompile(`^[A-Za-z0-9:/._\-~%@+=,]*$`)

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
