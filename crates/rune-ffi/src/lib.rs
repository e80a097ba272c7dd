//! The C ABI of Rune (see `include/rune.h`).
