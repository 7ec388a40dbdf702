#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Turns Driver Verifier standard settings on or off for peerdrt.sys, or shows its state.
.PARAMETER State
  On (standard settings for peerdrt.sys; reboot), Off (reset; reboot) or Query (current state,
  and the live statistics when the driver is loaded).
#>
param([ValidateSet('On', 'Off', 'Query')] [string] $State = 'Query')
$ErrorActionPreference = 'Stop'
switch ($State) {
    'On'    { verifier /standard /driver peerdrt.sys; Write-Host 'Reboot to start verifying peerdrt.sys.' }
    'Off'   { verifier /reset; Write-Host 'Reboot to stop verifying.' }
    'Query' { verifier /querysettings; verifier /query }
}
