/* The unlikely branch of `checked_div` calls a cold function, so GCC moves
 * it to .text.unlikely as `checked_div.cold`, the second range of the
 * subprogram's DW_AT_ranges. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((cold, noinline)) void report(const char *what, int a)
{
	fprintf(stderr, "error: %s (%d)\n", what, a);
}

__attribute__((noinline)) int checked_div(int a, int b)
{
	if (b == 0) {
		report("division by zero", a);
		report("again", a + 1);
		abort();
	}
	return a / b;
}

int main(int argc, char **argv)
{
	(void)argv;
	return checked_div(100, argc);
}
