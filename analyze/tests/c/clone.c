/* `scale` is always called with the same constant: GCC emits a clone
 * `scale.constprop.0` whose DIE only has DW_AT_abstract_origin. */
volatile int sink;

__attribute__((noinline)) static int scale(int v, int k)
{
	int r = 0;

	for (int i = 0; i < k; i++)
		r += v * sink;
	return r;
}

int first(int v)
{
	return scale(v, 3) + 1;
}

int second(int v)
{
	return scale(v + 1, 3) * 2;
}

int main(int argc, char **argv)
{
	(void)argv;
	return first(argc) + second(argc);
}
