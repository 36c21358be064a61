/* The AMX kernel with the tile instructions emulated in C (for testing without AMX). */
#define R8_AMX_EMU 1
#include "r8_amx.c"
