#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Turns test signing on so a test-signed peerdrt.sys loads (a reboot is needed).
.DESCRIPTION
  Secure Boot must be off for test signing. Run once on a test VM, then reboot.
#>
$ErrorActionPreference = 'Stop'
bcdedit /set testsigning on
if ($LASTEXITCODE -ne 0) { throw "bcdedit failed ($LASTEXITCODE); is Secure Boot on?" }
Write-Host 'Test signing is on. Reboot, then run Install-PeerDrt.ps1.'
