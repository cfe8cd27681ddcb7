/* Two static functions named `show`, one in dup_a.c and one in dup_b.c. */
volatile int sink_a;

__attribute__((noinline)) static int show(int x)
{
	sink_a = x;
	return x + 1;
}

int use_b(int x);

int main(int argc, char **argv)
{
	(void)argv;
	return show(argc) + use_b(argc);
}
