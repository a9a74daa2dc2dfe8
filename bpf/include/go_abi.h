/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Go's register ABI (ABIInternal): the first integer arguments of a Go function are in RAX, RBX,
 * RCX, RDI, RSI on amd64 and in R0-R4 on arm64; its first result is where C's is (RAX, R0), so
 * PT_REGS_RC reads it. Include after bpf_tracing.h. */
#ifndef KRETSPAN_GO_ABI_H
#define KRETSPAN_GO_ABI_H

#if defined(bpf_target_x86)
#define GO_PARM1(x) (((const struct pt_regs *)(x))->ax)
#define GO_PARM2(x) (((const struct pt_regs *)(x))->bx)
#define GO_PARM3(x) (((const struct pt_regs *)(x))->cx)
#define GO_PARM4(x) (((const struct pt_regs *)(x))->di)
#define GO_PARM5(x) (((const struct pt_regs *)(x))->si)
#elif defined(bpf_target_arm64)
#define GO_PARM1(x) PT_REGS_PARM1(x)
#define GO_PARM2(x) PT_REGS_PARM2(x)
#define GO_PARM3(x) PT_REGS_PARM3(x)
#define GO_PARM4(x) PT_REGS_PARM4(x)
#define GO_PARM5(x) PT_REGS_PARM5(x)
#else
#error "go_abi.h: Go's register ABI is not described for this architecture"
#endif

#endif
