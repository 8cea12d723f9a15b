/* bcryptprimitives.dll for Wine 8, which has none: Go's runtime (1.22+)
   loads ProcessPrng from it at start. Test tooling only, never shipped.
   SystemFunction036 is RtlGenRandom, which takes a ULONG length. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
