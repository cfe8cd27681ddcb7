/* A caller inlining two static helpers: add_above (defined above it,
 * inlined twice) and mul_below (defined below it). inlined_from_path must
 * list each helper once, with its own line span. */
static int mul_below(int x);

volatile int sink;

static inline __attribute__((always_inline)) int add_above(int x)
{
	sink = x;
	return x + sink;
}

__attribute__((noinline)) int caller(int x)
{
	int a = add_above(x);
	int b = add_above(a * 3);
	int c = mul_below(b);

	sink = a + b + c;
	return c - 1;
}

int main(int argc, char **argv)
{
	(void)argv;
	return caller(argc);
}

static inline __attribute__((always_inline)) int mul_below(int x)
{
	int acc = 1;

	for (int i = 0; i < x; i++)
		acc *= i + sink;
	sink = acc;
	return acc * 5;
}
