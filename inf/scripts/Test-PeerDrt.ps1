<#
.SYNOPSIS
  Verifies the peerdrt service is running and \\.\PeerDrt answers IOCTLs.
#>
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot\PeerDrtDevice.ps1"
$service = Get-Service -Name peerdrt
if ($service.Status -ne 'Running') { throw "peerdrt is $($service.Status), not Running" }
Test-PeerDrtDevice
Write-Host 'peerdrt is running and \\.\PeerDrt answers.'
