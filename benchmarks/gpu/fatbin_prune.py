"""List / prune CUDA fatbin entries inside an ELF shared library's .nv_fatbin section."""
import collections
import struct
import sys


def section(data, name):
    # parse ELF64 section headers
    e_shoff, = struct.unpack_from('<Q', data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    def sh(i):
        return struct.unpack_from('<IIQQQQIIQQ', data, e_shoff + i * e_shentsize)
    strtab = sh(e_shstrndx)
    for i in range(e_shnum):
        h = sh(i)
        nm_off = strtab[4] + h[0]
        nm = data[nm_off:data.index(b'\0', nm_off)].decode()
        if nm == name:
            return h[4], h[5]  # file offset, size
    raise KeyError(name)

def entries(data):
    off, size = section(data, '.nv_fatbin')
    pos, end = off, off + size
    while pos < end:
        magic, ver, hsize, fsize = struct.unpack_from('<IHHQ', data, pos)
        if magic != 0xBA55ED50:
            # padding between containers
            pos += 8
            continue
        p = pos + hsize
        cend = p + fsize
        while p < cend:
            kind, ever, ehs, psize = struct.unpack_from('<HHIQ', data, p)
            csize, _u2, minor, major, arch = struct.unpack_from('<IIHHI', data, p + 16)
            flags, = struct.unpack_from('<Q', data, p + 40) if ehs >= 48 else (0,)
            dsize, = struct.unpack_from('<Q', data, p + 56) if ehs >= 64 else (0,)
            yield dict(kind=kind, arch=arch, hdr=p, hsize=ehs, payload=p + ehs, psize=psize,
                       csize=csize, flags=flags, dsize=dsize)
            p += ehs + psize
        pos = cend

if __name__ == '__main__':
    data = bytearray(open(sys.argv[1], 'rb').read())
    stats: collections.Counter[object] = collections.Counter()
    counts: collections.Counter[object] = collections.Counter()
    flg: collections.Counter[object] = collections.Counter()
    for e in entries(data):
        k = ('PTX' if e['kind'] == 1 else 'ELF' if e['kind'] == 2 else e['kind'], e['arch'])
        stats[k] += e['psize']
        counts[k] += 1
        flg[(k, hex(e['flags']))] += 1
    for k in sorted(stats, key=str):
        print(k, counts[k], round(stats[k] / 1e6, 1), 'MB')
    print(flg.most_common(12))
    keep = set(int(a) for a in sys.argv[3].split(',')) if len(sys.argv) > 3 else None
    if keep is not None:
        z = 0
        for e in entries(data):
            if e['arch'] not in keep:
                data[e['payload']:e['payload'] + e['psize']] = bytes(e['psize'])
                z += e['psize']
        open(sys.argv[2], 'wb').write(data)
        print('zeroed', round(z / 1e6, 1), 'MB')
