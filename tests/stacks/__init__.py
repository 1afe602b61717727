"""Correct collectors on other stacks (Apache with PHP, Node.js, Go, nginx, Caddy) that the suite must pass."""
