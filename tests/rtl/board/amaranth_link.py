"""Drive a BoardLink in Amaranth's simulator at its UART pins (small networks, quick tests)."""

from amaranth.sim import Simulator


def exchange(dut, data, divisor, cycles):
    """Send `data` on rx (8N1, `divisor` cycles per bit), then run `cycles` more; the bytes that
    came out of tx."""
    out = []

    async def host(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4 * divisor)
        for b in data:
            for level in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                ctx.set(dut.rx, level)
                await ctx.tick().repeat(divisor)
        await ctx.tick().repeat(cycles)

    async def listen(ctx):
        while True:
            while ctx.get(dut.tx):
                await ctx.tick()
            await ctx.tick().repeat(divisor // 2)
            b = 0
            for i in range(8):
                await ctx.tick().repeat(divisor)
                b |= ctx.get(dut.tx) << i
            await ctx.tick().repeat(divisor)
            out.append(b)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(listen, background=True)
    sim.run()
    return bytes(out)
