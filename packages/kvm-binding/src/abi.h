/* The KVM ABI tables computed in abi.c (C, not C++: see there). */
#ifndef KVMSCOPE_ABI_H
#define KVMSCOPE_ABI_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
struct kvm_abi_entry {
  const char* name;
  double value;
};
extern const struct kvm_abi_entry kvm_constant_table[];
extern const size_t kvm_constant_count;
extern const struct kvm_abi_entry kvm_layout_table[];
extern const size_t kvm_layout_count;
#ifdef __cplusplus
}
#endif
#endif
