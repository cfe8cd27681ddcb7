/* The second `show`, at different lines than the one in dup_a.c. */
volatile int sink_b;


__attribute__((noinline)) static int show(int x)
{
	sink_b = x * 2;
	sink_b += x;
	return x + 2;
}

int use_b(int x)
{
	return show(x) * 3;
}
