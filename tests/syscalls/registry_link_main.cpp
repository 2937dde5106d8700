// Proves that op registration survives static linking: this program references no op symbol,
// only the registry, and links bb::syscalls as any user program would. Built twice: once through
// bb::syscalls (whole-archive; every op must be found) and once against the plain static library
// (the linker drops the op files; none may be found), which shows the check can fail.
#include "bb/runtime/op_registry.hpp"

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const bool expect_present = argc < 2 || std::strcmp(argv[1], "--expect-absent") != 0;
  struct Op {
    const char* domain;
    const char* type;
  };
  const Op ops[] = {{"ai.bytesandbrains.syscall", "PeerHealthGateTx"},
                    {"ai.bytesandbrains.syscall", "BackoffGateTx"},
                    {"ai.bytesandbrains.syscall", "DedupGateRx"},
                    {"ai.bytesandbrains.syscall", "PeerHealthGateRx"},
                    {"ai.bytesandbrains.syscall", "BackoffGateRx"},
                    {"ai.bytesandbrains.syscall", "DeadlineCheck"}};
  int wrong = 0;
  for (const Op& op : ops) {
    const bool found = bb::runtime::OpRegistry::global().find(op.domain, op.type) != nullptr;
    std::printf("%-18s %s\n", op.type, found ? "registered" : "missing");
    if (found != expect_present) ++wrong;
  }
  return wrong == 0 ? 0 : 1;
}
