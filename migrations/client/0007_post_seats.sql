-- 岗位人数: how many holders a public-welfare post has room for (see the server's 0010).
ALTER TABLE posts ADD COLUMN seats INTEGER;
