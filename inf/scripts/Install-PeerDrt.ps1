#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Installs the test-signed peerdrt driver package, starts the service and checks the device.
.PARAMETER Package
  The package folder made by `cargo make package` (peerdrt.inf, peerdrt.sys, peerdrt.cat, the
  test certificate peerdrt.cer).
#>
param([Parameter(Mandatory)] [string] $Package)
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot\PeerDrtDevice.ps1"

$cer = Join-Path $Package 'peerdrt.cer'
if (Test-Path $cer) {
    # The test certificate must be trusted as a root and as a trusted publisher.
    Import-Certificate -FilePath $cer -CertStoreLocation Cert:\LocalMachine\Root | Out-Null
    Import-Certificate -FilePath $cer -CertStoreLocation Cert:\LocalMachine\TrustedPublisher | Out-Null
}
pnputil /add-driver (Join-Path $Package 'peerdrt.inf') /install
if ($LASTEXITCODE -ne 0) { throw "pnputil /add-driver failed ($LASTEXITCODE)" }
sc.exe start peerdrt | Out-Host
. "$PSScriptRoot\Test-PeerDrt.ps1"
