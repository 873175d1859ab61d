-- 岗位人数: how many holders a public-welfare post has room for (按需设岗: the team records it
-- when the post is created). The posts report flags a post with more holders in force than
-- seats; a post without it recorded is not checked.
ALTER TABLE posts ADD COLUMN seats INTEGER;
