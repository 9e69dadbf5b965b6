/*
 * The native side of ironpc's conformance sweep: a 32-bit static Linux
 * process that runs one instruction at a time on the host CPU.
 *
 * It maps a code area and a data page at fixed addresses (the same ones
 * ironpc uses), then reads batches of cases from stdin. For each case it
 * copies the data page in, writes the instruction into a code area filled
 * with HLT, loads every general register and EFLAGS, and jumps to the
 * instruction. Whatever happens ends in a signal: HLT at CPL 3 raises
 * #GP(0) wherever control lands, and a faulting instruction raises its
 * own exception. The handler takes registers, EFLAGS, EIP, the trap
 * number and the error code from the signal context and resumes the C
 * code, which copies the data page out and writes the result to stdout.
 *
 * Protocol, all little-endian u32 unless noted:
 *   init   -> MAGIC, code_addr, code_size, data_addr, data_size,
 *             low_addr, low_size
 *   reply  <- MAGIC, cs, ds, es, fs, gs, ss, low     (the host's selectors;
 *                                                     low: the low code
 *                                                     area is mapped)
 *
 * The low code area (below 64 KiB) is where 16-bit near branches land,
 * since they truncate EIP to 16 bits. Linux maps it only when
 * vm.mmap_min_addr allows; without it those forms are not swept.
 *
 * Floating-point and SIMD state: a case may carry an FXSAVE image (fp
 * set), which enter_case loads with FXRSTOR right before the jump. The
 * state after the instruction comes from the signal frame, where the
 * kernel saved it (an FXSAVE image 112 bytes into the 32-bit frame's
 * fpstate, after the FNSAVE-format header whose magic is 0 when the FXSR
 * part is present): the handler itself runs with a fresh FPU state.
 * Saving never changes the state (FXSAVE/XSAVE are non-waiting), so a
 * pending unmasked x87 exception stays visible as FSW.ES rather than
 * firing inside the harness. sigreturn puts the case's state back, so
 * case_return runs FNINIT (non-waiting) and loads a clean MXCSR before
 * any C code runs: nothing in the harness can trip over a pending
 * exception. A SIMD exception (#XM) arrives as SIGFPE with trap number
 * 19, an x87 one (#MF) with 16.
 *
 * FS is loaded with an LDT data segment whose base is the data page and
 * whose limit is its last byte (selector 7), so that cases can use 16-bit
 * addressing (which cannot reach the data page through a zero base) and
 * segment bases. If modify_ldt is not allowed (some container seccomp
 * profiles), FS stays as it was and the reply says so by its value.
 *   batch  -> n, then n x struct case_in
 *   reply  <- n x struct case_out
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MAGIC 0x4F435049u /* "IPCO" */
#define DATA_SIZE 4096
#define MAX_BATCH 4096
#define HLT 0xF4
#define EFL_TF 0x100u
#define EFL_DF 0x400u
#define EFL_AC 0x40000u

struct case_in {
    uint32_t regs[8]; /* EAX ECX EDX EBX ESP EBP ESI EDI */
    uint32_t eflags;
    uint32_t insn_addr;
    uint32_t len;
    uint8_t bytes[16];
    uint8_t data[DATA_SIZE];
    uint32_t fp; /* load fx before the instruction */
    uint8_t fx[512];
};

struct case_out {
    uint32_t regs[8];
    uint32_t eflags;
    uint32_t eip;
    uint32_t vector;
    uint32_t error;
    uint8_t data[DATA_SIZE];
    uint32_t fp; /* fx holds the state after the instruction */
    uint8_t fx[512];
};

uint32_t in_fp;
uint8_t fx_in[512] __attribute__((aligned(16)));
uint32_t clean_mxcsr = 0x1F80;

/* What enter_case loads: popfl then popal (EDI ESI EBP - EBX EDX ECX EAX). */
uint32_t in_frame[9];
uint32_t in_esp, in_target, host_esp;
static volatile int in_case;
static struct case_out *cur;

void enter_case(void);
void case_return(void);
__asm__(".text\n"
        ".globl enter_case\n"
        "enter_case:\n"
        "  pushl %ebx\n  pushl %esi\n  pushl %edi\n  pushl %ebp\n"
        "  movl %esp, host_esp\n"
        "  cmpl $0, in_fp\n"
        "  je 1f\n"
        "  fxrstor fx_in\n"
        "1:\n"
        "  movl $in_frame, %esp\n"
        "  popfl\n"
        "  popal\n"
        "  movl in_esp, %esp\n"
        "  jmp *in_target\n"
        ".globl case_return\n"
        "case_return:\n"
        "  fninit\n"
        "  ldmxcsr clean_mxcsr\n"
        "  movl host_esp, %esp\n"
        "  popl %ebp\n  popl %edi\n  popl %esi\n  popl %ebx\n"
        "  ret\n");

static void on_signal(int sig, siginfo_t *si, void *ctx) {
    (void)si;
    ucontext_t *uc = ctx;
    greg_t *g = uc->uc_mcontext.gregs;
    if (!in_case) {
        /* A fault in the helper itself: die with the default action. */
        signal(sig, SIG_DFL);
        return;
    }
    in_case = 0;
    static const int order[8] = {REG_EAX, REG_ECX, REG_EDX, REG_EBX, REG_ESP, REG_EBP, REG_ESI, REG_EDI};
    for (int i = 0; i < 8; i++)
        cur->regs[i] = (uint32_t)g[order[i]];
    cur->eflags = (uint32_t)g[REG_EFL];
    cur->eip = (uint32_t)g[REG_EIP];
    cur->vector = (uint32_t)g[REG_TRAPNO];
    cur->error = (uint32_t)g[REG_ERR];
    const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
    uint16_t magic = 0xFFFF;
    if (fp)
        memcpy(&magic, fp + 110, sizeof magic);
    cur->fp = fp && magic == 0;
    if (cur->fp) {
        const uint8_t *fx = fp + 112;
        memcpy(cur->fx, fx, sizeof cur->fx);
        /* An XSAVE frame (software-reserved magic "FPXS" at 464) says in
         * XSTATE_BV which components were in their initial configuration;
         * the optimised forms of XSAVE leave those unwritten. Fill in the
         * initial values then (SDM vol. 1 13.6): x87 FCW 037F, everything
         * else zero and all registers empty; XMM registers zero. */
        uint32_t magic1;
        uint64_t bv;
        memcpy(&magic1, fx + 464, sizeof magic1);
        memcpy(&bv, fx + 512, sizeof bv);
        if (magic1 == 0x46505853u) {
            if (!(bv & 1)) {
                memset(cur->fx, 0, 24);
                cur->fx[0] = 0x7F;
                cur->fx[1] = 0x03;
                memset(cur->fx + 32, 0, 128);
            }
            if (!(bv & 2))
                memset(cur->fx + 160, 0, 128);
        }
    }
    g[REG_EIP] = (greg_t)(uintptr_t)case_return;
    g[REG_EFL] &= ~(greg_t)(EFL_TF | EFL_DF | EFL_AC);
}

static void die(const char *what) {
    fprintf(stderr, "oracle: %s\n", what);
    exit(2);
}

static void read_all(void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(0, b, n);
        if (r == 0)
            exit(0);
        if (r < 0)
            die("read failed");
        b += r;
        n -= (size_t)r;
    }
}

static void write_all(const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t r = write(1, b, n);
        if (r <= 0)
            die("write failed");
        b += r;
        n -= (size_t)r;
    }
}

static uint8_t *map_fixed(uint32_t addr, uint32_t size, int prot) {
    void *p = mmap((void *)(uintptr_t)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || p != (void *)(uintptr_t)addr)
        die("cannot map the code or data area at its fixed address");
    return p;
}

static uint16_t selector(int n) {
    uint16_t s = 0;
    switch (n) {
    case 0: __asm__("movw %%cs, %0" : "=r"(s)); break;
    case 1: __asm__("movw %%ds, %0" : "=r"(s)); break;
    case 2: __asm__("movw %%es, %0" : "=r"(s)); break;
    case 3: __asm__("movw %%fs, %0" : "=r"(s)); break;
    case 4: __asm__("movw %%gs, %0" : "=r"(s)); break;
    default: __asm__("movw %%ss, %0" : "=r"(s)); break;
    }
    return s;
}

int main(void) {
    uint32_t init[7];
    read_all(init, sizeof init);
    if (init[0] != MAGIC || init[4] != DATA_SIZE)
        die("bad init message");
    uint32_t code_addr = init[1], code_size = init[2], data_addr = init[3];
    uint32_t low_addr = init[5], low_size = init[6];
    uint8_t *code = map_fixed(code_addr, code_size, PROT_READ | PROT_WRITE | PROT_EXEC);
    uint8_t *data = map_fixed(data_addr, DATA_SIZE, PROT_READ | PROT_WRITE);
    memset(code, HLT, code_size);
    void *lowp = mmap((void *)(uintptr_t)low_addr, low_size, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    uint8_t *low = lowp == (void *)(uintptr_t)low_addr ? lowp : NULL;
    if (low)
        memset(low, HLT, low_size);

    struct user_desc ldt = {
        .entry_number = 0,
        .base_addr = data_addr,
        .limit = DATA_SIZE - 1,
        .seg_32bit = 1,
        .contents = 0, /* data, expand-up */
        .read_exec_only = 0,
        .limit_in_pages = 0,
        .seg_not_present = 0,
        .useable = 1,
    };
    if (syscall(SYS_modify_ldt, 1, &ldt, sizeof ldt) == 0) {
        uint16_t fs = 7; /* LDT entry 0, RPL 3 */
        __asm__ volatile("movw %0, %%fs" : : "r"(fs));
    }

    static uint8_t altstack[65536];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL))
        die("sigaltstack failed");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL))
            die("sigaction failed");

    uint32_t reply[8] = {MAGIC};
    for (int i = 0; i < 6; i++)
        reply[1 + i] = selector(i);
    reply[7] = low != NULL;
    write_all(reply, sizeof reply);

    struct case_in *ins = malloc(sizeof *ins * MAX_BATCH);
    struct case_out *outs = malloc(sizeof *outs * MAX_BATCH);
    if (!ins || !outs)
        die("out of memory");
    for (;;) {
        uint32_t n;
        read_all(&n, sizeof n);
        if (n > MAX_BATCH)
            die("batch too large");
        read_all(ins, sizeof *ins * n);
        /* A case that never reaches HLT (a bug in the generator) ends the
         * helper rather than hanging the sweep. */
        alarm(30);
        for (uint32_t k = 0; k < n; k++) {
            struct case_in *c = &ins[k];
            uint8_t *at;
            if (c->len > 15)
                die("instruction too long");
            if (c->insn_addr >= code_addr && c->insn_addr - code_addr <= code_size - c->len)
                at = code + (c->insn_addr - code_addr);
            else if (low && c->insn_addr >= low_addr && c->insn_addr - low_addr <= low_size - c->len)
                at = low + (c->insn_addr - low_addr);
            else
                die("instruction outside the code areas");
            memcpy(at, c->bytes, c->len);
            memcpy(data, c->data, DATA_SIZE);
            cur = &outs[k];
            in_frame[0] = c->eflags;
            in_frame[1] = c->regs[7];
            in_frame[2] = c->regs[6];
            in_frame[3] = c->regs[5];
            in_frame[4] = 0;
            in_frame[5] = c->regs[3];
            in_frame[6] = c->regs[2];
            in_frame[7] = c->regs[1];
            in_frame[8] = c->regs[0];
            in_esp = c->regs[4];
            in_target = c->insn_addr;
            in_fp = c->fp;
            if (in_fp)
                memcpy(fx_in, c->fx, sizeof fx_in);
            in_case = 1;
            enter_case();
            memcpy(cur->data, data, DATA_SIZE);
            memset(at, HLT, c->len);
        }
        alarm(0);
        write_all(outs, sizeof *outs * n);
    }
}
