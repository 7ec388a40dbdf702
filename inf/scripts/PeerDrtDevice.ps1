<#
  Shared helpers: open \\.\PeerDrt and send one IOCTL, the way the shim does.
#>
Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
public static class PeerDrtDevice {
    [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    public static extern SafeFileHandle CreateFileW(string name, uint access, uint share, IntPtr sa,
        uint disposition, uint flags, IntPtr template);
    [DllImport("kernel32.dll", SetLastError = true)]
    public static extern bool DeviceIoControl(SafeFileHandle h, uint code, byte[] input, uint inputLength,
        byte[] output, uint outputLength, out uint returned, IntPtr overlapped);
    public static SafeFileHandle Open() {
        // GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING
        var h = CreateFileW(@"\\.\PeerDrt", 0xC0000000, 0, IntPtr.Zero, 3, 0, IntPtr.Zero);
        if (h.IsInvalid) throw new System.ComponentModel.Win32Exception(Marshal.GetLastWin32Error());
        return h;
    }
}
'@

# IOCTL_PEERDRT_QUERY_INSTANCE with a handle no open owns: a running driver answers with an
# invalid-handle error (Win32 6), which proves the device, the IOCTL path and the ABI decoder work.
function Test-PeerDrtDevice {
    $h = [PeerDrtDevice]::Open()
    try {
        $code = [uint32](0x12 -shl 16) -bor (1 -shl 14) -bor (0x80A -shl 2)
        $request = [byte[]](1, 0, 0, 0) + [byte[]](,0 * 8)
        $output = New-Object byte[] 64
        [uint32]$returned = 0
        $ok = [PeerDrtDevice]::DeviceIoControl($h, $code, $request, $request.Length, $output, $output.Length, [ref]$returned, [IntPtr]::Zero)
        $err = [System.Runtime.InteropServices.Marshal]::GetLastWin32Error()
        if ($ok -or $err -ne 6) { throw "unexpected answer from \\.\PeerDrt: ok=$ok error=$err" }
    } finally { $h.Dispose() }
}
