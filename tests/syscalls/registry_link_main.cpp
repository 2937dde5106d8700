// Proves that op registration survives static linking: this program references no op symbol,
// only the registry, and links bb::syscalls as any user program would. Built twice: once through
// bb::syscalls (whole-archive; every op must be found) and once against the plain static library
// (the linker drops the op files; none may be found), which shows the check can fail.
#include "runtime/op_registry.hpp"

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const bool expect_present = argc < 2 || std::strcmp(argv[1], "--expect-absent") != 0;
  const char* ops[] = {"PeerHealthGateTx", "BackoffGateTx", "DedupGateRx",
                       "PeerHealthGateRx", "BackoffGateRx", "DeadlineCheck"};
  int wrong = 0;
  for (const char* op : ops) {
    const bool found =
        bb::runtime::OpRegistry::global().find("ai.bytesandbrains.syscall", op) != nullptr;
    std::printf("%-18s %s\n", op, found ? "registered" : "missing");
    if (found != expect_present) ++wrong;
  }
  return wrong == 0 ? 0 : 1;
}
