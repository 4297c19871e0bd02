# Sourced inside fresh mount and network namespaces (by tests/classroom/inside.sh and
# scripts/bench-classroom.sh): loopback up; /etc, /var and /run as layers over the real ones that
# take every write (under $1, on a tmpfs), so the real ones stay as they were; class.example.org
# this namespace's loopback.
layers=$1/layers
ip link set lo up
mkdir -p "$layers"
mount -t tmpfs tmpfs "$layers"
for dir in etc var run; do
  mkdir -p "$layers/$dir/up" "$layers/$dir/work"
  mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$layers/$dir/up,workdir=$layers/$dir/work" "/$dir"
done
echo "127.0.0.1 class.example.org" >> /etc/hosts
