// treatctl: wires the process's standard streams to RunTreatctl().
#include <iostream>

#include "client/treatctl/treatctl.h"

int main(int argc, char** argv) {
  return treatd::RunTreatctl(argc, argv, std::cin, std::cout, std::cerr);
}
