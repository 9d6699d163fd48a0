; Inno Setup script for Mirage on Windows. Build the bundle first (pyinstaller mirage.spec on
; Windows), then: iscc packaging\windows\mirage.iss  → dist\MirageSetup.exe
#define AppVersion "0.1.0"

[Setup]
AppId={{6E1D1B9C-6C51-4B3E-9A0B-2D8C9A7F1E42}
AppName=Mirage
AppVersion={#AppVersion}
AppPublisher=Mirage
DefaultDirName={autopf}\Mirage
DefaultGroupName=Mirage
OutputDir=..\..\dist
OutputBaseFilename=MirageSetup
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
UninstallDisplayIcon={app}\Mirage.exe

[Tasks]
Name: "desktopicon"; Description: "Create a &desktop shortcut"; Flags: unchecked
Name: "unitycapture"; Description: "Register a virtual camera named ""Mirage Camera"" (Unity Capture, needs admin)"; Flags: unchecked

[Files]
Source: "..\..\dist\Mirage\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
; Unity Capture's filter DLLs are not ours to ship: put UnityCaptureFilter64bit.dll in
; packaging\windows\unitycapture\ before building to offer the task above.
Source: "unitycapture\UnityCaptureFilter64bit.dll"; DestDir: "{app}\unitycapture"; Tasks: unitycapture; Flags: skipifsourcedoesntexist

[Icons]
Name: "{group}\Mirage"; Filename: "{app}\Mirage.exe"
Name: "{group}\Uninstall Mirage"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Mirage"; Filename: "{app}\Mirage.exe"; Tasks: desktopicon

[Run]
Filename: "regsvr32.exe"; Parameters: "/s ""{app}\unitycapture\UnityCaptureFilter64bit.dll"" ""/i:UnityCaptureName=Mirage Camera"""; Tasks: unitycapture; Flags: runhidden
Filename: "{app}\Mirage.exe"; Description: "Start Mirage"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "regsvr32.exe"; Parameters: "/u /s ""{app}\unitycapture\UnityCaptureFilter64bit.dll"""; Tasks: unitycapture; Flags: runhidden; RunOnceId: "UnregisterUnityCapture"

[Messages]
FinishedLabel=Mirage is installed. For the microphone, install VB-Audio Virtual Cable (vb-audio.com/Cable) and pick "CABLE Output" as the microphone in your call app.
