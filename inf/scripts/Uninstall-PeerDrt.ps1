#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Stops the peerdrt service and removes the driver package from the driver store.
#>
$ErrorActionPreference = 'Stop'
sc.exe stop peerdrt | Out-Host
# The published name (oemNN.inf) of the package whose original name is peerdrt.inf.
$published = (pnputil /enum-drivers | Out-String) -split "`r?`n`r?`n" |
    Where-Object { $_ -match 'Original Name:\s+peerdrt\.inf' } |
    ForEach-Object { if ($_ -match 'Published Name:\s+(\S+)') { $Matches[1] } }
foreach ($inf in $published) {
    pnputil /delete-driver $inf /uninstall /force
    if ($LASTEXITCODE -ne 0) { throw "pnputil /delete-driver $inf failed ($LASTEXITCODE)" }
}
if (Get-Service -Name peerdrt -ErrorAction SilentlyContinue) { throw 'the peerdrt service is still registered' }
Write-Host 'peerdrt is uninstalled.'
