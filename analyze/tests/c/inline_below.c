/* A static helper defined BELOW its caller and always inlined into it:
 * the caller's end line must stop at its own closing brace. */
static int helper(int x);

volatile int sink;

__attribute__((noinline)) int caller(int x)
{
	int y = helper(x);

	sink = y;
	return y + 1;
}

static inline __attribute__((always_inline)) int helper(int x)
{
	int acc = 0;

	for (int i = 0; i < x; i++)
		acc += i * sink;
	sink = acc;
	return acc * 3 + 7;
}

int main(int argc, char **argv)
{
	(void)argv;
	return caller(argc);
}
